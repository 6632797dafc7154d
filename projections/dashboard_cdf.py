"""Histograms of minutes to report packed into one number each, so that a
database sums them with a plain SUM.

A histogram over k slots with counts c₀ … cₖ₋₁ is the integer Σ cᵢ·10^(W·i):
each count a field of W decimal digits. Adding two such integers adds the
histograms field by field, with no carry while every count stays below
10^W, so `SUM` over the rows of many periods (PostgreSQL's NUMERIC) is the
histogram of their union. Multiplying it by 1 + 10^W + … + 10^(W·(k−1))
turns each field into the running total up to it (the low k fields of the
product), so the slot holding a rank is found by a binary search on the
fields of one number, not by reading rows per slot. Empty slots cost
nothing beyond the highest and lowest filled ones.

W depends on the dimension (`DIGITS`): every count of a key over a range,
the number of its reported summonses included, must stay below 10^W; the
query checks that against the rollups' `reported` and refuses rather than
give a wrong figure.

Minutes are cut in two levels, 32 slots per doubling below an exact start:
a *group* (0 for minutes 0–63, then g for [2^(g+5), 2^(g+6))) and, within
it, a slot (the minute itself in group 0, else one of 32 of width 2^g, named
by its first minute, `bucket`). One number per (period, key) holds the group
counts, one per group that group's slots.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from projections.bulk import insert_rows
from service_layer.db import Cursor, Database

# Decimal digits per count. Fewer digits make the rows of the many small keys
# smaller, and reading them is most of a query by compound.
DIGITS = {"department": 9, "street": 9, "community": 7, "compound": 6}
SLOTS = 32                  # slots per doubling
EXACT = 2 * SLOTS           # minutes below this are their own slot (group 0)
GROUPS = 26                 # groups 0..25 hold every minute below 2^31
GROUP_COLUMNS = tuple(f"g{g}" for g in range(GROUPS))


def group(minute: int) -> int:
    return max(0, minute.bit_length() - EXACT.bit_length() + 1)


def width(g: int) -> int:
    """Slots in group g."""
    return EXACT if g == 0 else SLOTS


def slot(minute: int) -> int:
    g = group(minute)
    return minute if g == 0 else (minute >> g) - SLOTS


def bucket(minute: int) -> int:
    """The first minute of the minute's slot."""
    g = group(minute)
    return (minute >> g) << g


def slot_start(g: int, i: int) -> int:
    return i if g == 0 else (i + SLOTS) << g


@lru_cache(maxsize=1 << 16)  # a rebuild asks for the same few thousand minutes again and again
def one(minute: int, w: int) -> tuple[int, int, int]:
    """(group, the packed group counts of this one value, its packed slot
    counts within the group) with w digits per count."""
    g = group(minute)
    if g >= GROUPS:
        raise ValueError(f"{minute} minutes to report is beyond the histogram")
    return g, 10 ** (w * g), 10 ** (w * slot(minute))


def pack(counts: dict[int, int], w: int) -> tuple[int, dict[int, int]]:
    """minute -> count (signed: deltas pack as well) as (groups, {g: slots})."""
    groups, slots = 0, {}
    for minute, n in counts.items():
        g, up_group, up_slot = one(minute, w)
        groups += n * up_group
        slots[g] = slots.get(g, 0) + n * up_slot
    return groups, slots


@lru_cache(maxsize=None)
def _ones(k: int, w: int) -> tuple[int, int]:
    """(1 + 10^w + … + 10^(w·(k−1)), 10^(w·k))"""
    return sum(10 ** (w * i) for i in range(k)), 10 ** (w * k)


def running(packed: int, k: int, w: int) -> list[str]:
    """The running totals of a histogram of k slots packed with w digits, as
    w-digit strings, slot 0 first (the last is the number of values). Strings
    of one width sort as their numbers do: bisect finds a rank among them
    without converting them all."""
    ones, top = _ones(k, w)
    return _fields(w).findall(str(packed * ones % top).zfill(k * w))[::-1]


@lru_cache(maxsize=None)
def _fields(w: int) -> re.Pattern:
    """Cuts a number's digits into w-digit fields, most significant first (in
    C: a slice per field in Python took as long as the rest of a query)."""
    return re.compile(f"[0-9]{{{w}}}")


def locate(totals: list[str], ranks: list[int]) -> list[tuple[int, int]]:
    """For each rank (1-based): the slot holding it and its rank within the
    slot, from `running` totals."""
    w, out = len(totals[0]), []
    for rank in ranks:
        i = bisect_left(totals, str(rank).zfill(w))
        out.append((i, rank - (int(totals[i - 1]) if i else 0)))
    return out


# -- the `cdf` table: per (dim, grain, period, key) the packed group counts and,
# per group, its packed slot counts -------------------------------------------
PERIOD = ("dim", "grain", "period", "key")
PERIOD_SQL = "dim TEXT NOT NULL, grain TEXT NOT NULL, period INTEGER NOT NULL, key TEXT NOT NULL"
COLUMNS = ("groups", *GROUP_COLUMNS)


def create(db: Database, cur: Cursor, table: str) -> None:
    # NUMERIC on PostgreSQL, which sums them exactly; SQLite has no such
    # type, so it keeps the digits as TEXT and Python sums them.
    kind = "NUMERIC" if db.is_postgres else "TEXT"
    cols = ", ".join(f"{c} {kind} NOT NULL" for c in COLUMNS)
    if db.is_postgres:  # the first step of a percentile reads only `groups`
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({PERIOD_SQL}, {cols}, "
                    f"PRIMARY KEY ({', '.join(PERIOD)}) INCLUDE (groups))")
    else:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({PERIOD_SQL}, {cols}, "
                    f"PRIMARY KEY ({', '.join(PERIOD)})) WITHOUT ROWID")


Packed = tuple[int, dict[int, int]]  # (groups, {g: slots}) as `pack` returns


def add(db: Database, cur: Cursor, table: str, deltas: dict[tuple, Packed],
        fresh: bool = False) -> None:
    """Adds packed histograms to the rows of their (dim, grain, period, key);
    `fresh`: the table holds none of them yet."""
    deltas = {k: v for k, v in deltas.items() if v[0] or any(v[1].values())}
    if not deltas:
        return
    if fresh:
        # Nothing to add to: plain inserts, COPY on PostgreSQL, which formats
        # the digits in C; the arrays below cost a Python call per number,
        # most of a rebuild's deriving (27 numbers a row, most of them "0").
        rows, zeros = [], ["0"] * GROUPS
        for k, (groups, slots) in deltas.items():
            numbers = zeros.copy()  # filled only where a slot is, a few groups a row
            for g, n in slots.items():
                numbers[g] = str(n)
            rows.append((*k, str(groups), *numbers))
        insert_rows(db, cur, table, (*PERIOD, *COLUMNS), rows)
        return
    if db.is_postgres:  # NUMERIC adds up in the statement itself
        heads = [list(column) for column in zip(*deltas)]
        # Digits as text (most groups of a row are empty: "0"), read as NUMERIC.
        numbers = [[str(groups) for groups, _ in deltas.values()]] + [
            [str(slots[g]) if g in slots else "0" for _, slots in deltas.values()]
            for g in range(GROUPS)]
        casts = ", ".join(["?::text[]", "?::text[]", "?::bigint[]", "?::text[]"]
                          + ["?::numeric[]"] * len(COLUMNS))
        names = ", ".join((*PERIOD, *COLUMNS))
        sets = ", ".join(f"{c} = c.{c} + excluded.{c}" for c in COLUMNS)
        cur.execute(f"INSERT INTO {table} AS c ({names}) SELECT * FROM unnest({casts}) "
                    f"ON CONFLICT ({', '.join(PERIOD)}) DO UPDATE SET {sets}", heads + numbers)
        return
    # SQLite would add TEXT digits as floating point numbers: read, add in
    # Python, write back (its writers take the database's write lock first).
    stored = _stored(cur, table, list(deltas))
    rows = []
    for k, (groups, slots) in deltas.items():
        old = stored.get(k, [0] * len(COLUMNS))
        new = [groups, *(slots.get(g, 0) for g in range(GROUPS))]
        rows.append((*k, *(str(a + b) for a, b in zip(old, new))))
    cur.executemany(f"INSERT OR REPLACE INTO {table} ({', '.join((*PERIOD, *COLUMNS))}) "
                    f"VALUES ({', '.join('?' for _ in PERIOD + COLUMNS)})", rows)


def _stored(cur: Cursor, table: str, keys: list[tuple]) -> dict[tuple, list[int]]:
    out = {}
    for i in range(0, len(keys), 200):
        chunk = keys[i:i + 200]
        cur.execute(f"SELECT {', '.join((*PERIOD, *COLUMNS))} FROM {table} "
                    f"WHERE ({', '.join(PERIOD)}) IN (VALUES "
                    f"{', '.join('(?, ?, ?, ?)' for _ in chunk)})", [v for k in chunk for v in k])
        out.update({tuple(r[:4]): [int(v) for v in r[4:]] for r in cur.fetchall()})
    return out


def derive(db: Database, cur: Cursor, table: str, summonses: str, dims: tuple[str, ...],
           spans: list[tuple[int, int]]) -> None:
    """Fills `table` from the `summonses` rows: each day's histograms packed
    from the rows, its month's and year's summed from the days, which is what
    the deltas of `add` leave there too. `spans`: [lo, hi) ranges of `blown`,
    each a run of whole days, read one at a time, so that no statement waits
    long on Python (PostgreSQL ends a transaction idle for a few seconds)."""
    for dim in dims:
        w = DIGITS[dim]
        coarser: dict[tuple, tuple[list[int], dict[int, int]]] = {}
        for lo, hi in spans:
            cur.execute(f"SELECT day, month, {dim}, minutes FROM {summonses} "
                        "WHERE blown >= ? AND blown < ? AND reported_at IS NOT NULL", [lo, hi])
            days: dict[tuple, tuple[list[int], dict[int, int]]] = {}
            for day, month, key, minute in cur.fetchall():
                g, up_group, up_slot = one(minute, w)
                total, by_group = days.setdefault((dim, "d", day, key, month), ([0], {}))
                total[0] += up_group
                by_group[g] = by_group.get(g, 0) + up_slot
            for (_, _, day, key, month), (total, by_group) in days.items():
                for k in ((dim, "m", month, key), (dim, "y", month // 12, key)):
                    t, b = coarser.setdefault(k, ([0], {}))
                    t[0] += total[0]
                    for g, v in by_group.items():
                        b[g] = b.get(g, 0) + v
            add(db, cur, table, {k[:4]: (t[0], b) for k, (t, b) in sorted(days.items())},
                fresh=True)
        items = sorted(coarser.items())
        for i in range(0, len(items), 20_000):
            add(db, cur, table, {k: (t[0], b) for k, (t, b) in items[i:i + 20_000]}, fresh=True)
