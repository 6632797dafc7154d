"""Running totals of the dashboard's rollups and histograms through each
month (grain `c`): the row (dim, "c", m, key) holds everything of the key
blown in months up to and including m. Any run of whole months [m0, m1) is
then the row at m1 − 1 minus the row at m0 − 1, two rows a key however long
the range, where month and year rows cost a row per period.

A key has a row for every month from its first to the dimension's last
(`last_month`), so a missing row means "nothing yet": 0. A batch whose
months go past the last one first copies every key's last row forward
(`extend`: once a month, the whole dimension); a change in month m is added
to the rows of m and of every later month up to the last (one row for the
events of the current month, more for imports dated in the past).
"""
from __future__ import annotations

from typing import Callable, TypeVar

from adapters.db import Cursor

RUNNING = "c"
V = TypeVar("V")


def last_month(cur: Cursor, table: str, dim: str) -> int | None:
    cur.execute(f"SELECT MAX(period) FROM {table} WHERE dim = ? AND grain = '{RUNNING}'", [dim])
    return cur.fetchone()[0]


def extend(cur: Cursor, tables: list[tuple[str, tuple[str, ...]]], dim: str,
           last: int | None, month: int) -> int:
    """Copies every key's row at `last` to the months after it up to `month`,
    in each (table, its value columns); returns the new last month."""
    if last is None or month <= last:
        return month if last is None else last
    months = " UNION ALL ".join(f"SELECT {m} AS period" for m in range(last + 1, month + 1))
    for table, columns in tables:
        values = ", ".join(f"r.{c}" for c in columns)
        cur.execute(f"INSERT INTO {table} (dim, grain, period, key, {', '.join(columns)}) "
                    f"SELECT r.dim, r.grain, m.period, r.key, {values} FROM {table} r "
                    f"CROSS JOIN ({months}) m "
                    f"WHERE r.dim = ? AND r.grain = '{RUNNING}' AND r.period = ?", [dim, last])
    return month


def deltas(months: dict[tuple, V], last: dict[str, int], plus: Callable[[V, V], V]) -> dict[tuple, V]:
    """The running-total changes implied by changes keyed (dim, "m", month,
    key, *rest): each added to the months from its own to the last."""
    out: dict[tuple, V] = {}
    for (dim, grain, month, key, *rest), value in months.items():
        if grain != "m":
            continue
        for m in range(month, last[dim] + 1):
            k = (dim, RUNNING, m, key, *rest)
            out[k] = plus(out[k], value) if k in out else value
    return out
