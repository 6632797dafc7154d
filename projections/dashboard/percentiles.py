"""Medians and 90th percentiles of minutes to report, exact, from the packed
histograms (dashboard_cdf.py) over whole periods plus the `summonses` rows
of part-days, and the minutes of a few slots from `summonses`.

With the n reported summonses of a key in ascending order, the median is the
mean of the values at ranks ⌊(n+1)/2⌋ and ⌊n/2⌋+1, the 90th percentile the
value at rank ⌈0.9·n⌉. Three steps, each reading little:

1. the histograms' rows of the periods, a few a key, read once: their group
   counts, summed, tell the group (a range of minutes) of each rank;
2. the slot counts of just those groups, summed from the same rows: the
   slot of each rank and how many values lie before it in the slot;
3. the value at each rank from the slot holding it (none for minutes below
   64, whose slot is the minute), from the index on (key, minutes, blown)
   of `summonses`: one stretch of it per slot holding ranks, walked in order
   and stopped at the last of them, so one row per rank comes back (two for
   the median of an even n when both ranks share a slot, as they mostly do).

A range holding few reported summonses a key (`ROWS_A_KEY`) takes them all
instead, sorted by the database. Either way the last
statement is sent ahead (adapters/db.py's `Cursor.send`), to run while
Python makes the query's rows.
"""
from __future__ import annotations

from itertools import groupby
from operator import itemgetter

from projections.dashboard import cdf
from adapters.db import Cursor, Fetched


class Percentiles:
    """Per key (median, nearest-rank 90th percentile) of minutes to report
    over the whistles blown in `span` (µs), cut into `intervals` read row by
    row and whole `periods`, worked out in turns so that the query's other
    statement runs on the server meanwhile: constructing reads step 1's rows,
    `locate` does steps 1 and 2 in Python, `send` sends step 3 (or, for few
    summonses a key, the statement that sorts them all), `result` reads it."""

    def __init__(self, cur: Cursor, pg: bool, t: dict, by: str, span: tuple[int, int],
                 intervals: list, periods: list) -> None:
        self.cur, self.pg, self.table, self.by, self.span = cur, pg, t["summonses"], by, span
        self.f = cdf.field(by)
        self.stretches: list[list] = []
        self.sent: list[Cursor | Fetched] = []
        # How many reported summonses a key the whole periods hold (the
        # part-days, a day or two at most, left out of the reckoning). The
        # counts read these rollup rows again; deciding first spares the
        # sorting way the histograms' rows.
        reported, keys = 0, 0
        union, params = periods_union(t["rollup"], by, periods, "reported")
        if union:
            cur.execute("SELECT COALESCE(SUM(sign * reported), 0), COUNT(DISTINCT key) "
                        f"FROM ({union}) u", params)
            reported, keys = cur.fetchone()
        self.sorted_rows = reported <= ROWS_A_KEY * max(keys, 1)
        if self.sorted_rows:
            return
        self.keys = _histograms(cur, t["report_minutes"], by, periods)
        for lo, hi in intervals:
            cur.execute(f"SELECT {by}, minutes FROM {t['summonses']} "
                        "WHERE blown >= ? AND blown < ? AND reported_at IS NOT NULL", [lo, hi])
            _add_part_day(self.keys, cur.fetchall(), self.f)

    def locate(self) -> None:
        if not self.sorted_rows:
            self.stretches, self.pending, self.values = _locate(self.keys, self.f)

    def send(self) -> None:
        if self.sorted_rows:
            self.sent = [self.cur.send(*_from_rows_sql(self.pg, self.table, self.by, self.span))]
        else:
            self.sent = [self.cur.send(*statement, binary=True) for statement in
                         _stretches_sql(self.pg, self.table, self.by, self.span, self.stretches)]

    def result(self) -> dict[str, tuple[float, int]]:
        if self.sorted_rows and self.pg:
            return {key: ((lo + hi) / 2, p90) for key, lo, hi, p90 in self.sent[0].fetchall()}
        if self.sorted_rows:  # every key's minutes in order: SQLite has no array_agg
            out = {}
            for key, rows in groupby(self.sent[0].fetchall(), key=itemgetter(0)):
                a = [minute for _, minute in rows]
                n = len(a)
                out[key] = ((a[(n + 1) // 2 - 1] + a[n // 2]) / 2, a[(9 * n + 9) // 10 - 1])
            return out
        minutes = _stretch_minutes(self.sent, self.stretches)
        for mine, which, stretch, offset in self.pending:
            mine[which] = minutes[stretch][offset]
        return {key: ((lo + hi) / 2, p90) for key, (lo, hi, p90) in self.values.items()}


def _add_part_day(keys: dict[str, list], rows: list[tuple], f: int) -> None:
    """Adds a part-day's (key, minutes) rows to the keys' histograms, packed
    one by one."""
    for key, minute in rows:
        g, up_group, up_slot = cdf.one(int(minute), f)
        entry = keys.setdefault(key, [0, [], {}])
        entry[0] += up_group
        entry[2][g] = entry[2].get(g, 0) + up_slot


def _locate(keys: dict[str, list], f: int) -> tuple[list, list, dict[str, list[int]]]:
    """Steps 1 and 2 for every key: (the stretches of step 3, the values to
    fill in from them, per key its values at the three ranks: the median's
    two (the same one for an odd n) and the 90th percentile's)."""
    groups = cdf.layout(cdf.GROUPS, f)
    slot_layouts = [cdf.layout(cdf.width(g), f) for g in range(cdf.GROUPS)]
    values: dict[str, list[int]] = {}
    stretches: list[list] = []  # [first minute, key, end, first rank, ranks] of one slot
    pending = []  # (values of a key, which, stretch, offset) to fill from the stretches
    for key, (packed, rows, extra) in keys.items():
        totals = groups.running(packed)
        n = groups.size(totals)
        if not n:
            continue
        values[key] = mine = [0, 0, 0]
        located = groups.locate(totals, [(n + 1) // 2, n // 2 + 1, (9 * n + 9) // 10])
        which = 0
        while which < 3:  # the ranks ascend: those in one group are next to each other
            g = located[which][0]
            ranks = [within for h, within in located[which:] if h == g]
            slots = extra.get(g, 0)
            for sign, mask, row in rows:
                slots += sign * cdf.slots_of(row, mask, g, f)
            layout = slot_layouts[g]
            last = None  # the stretch of the previous rank (the two median ranks share
            for i, inner in layout.locate(layout.running(slots), ranks):  # one, mostly)
                if not g:  # a slot of group 0 is one minute
                    mine[which] = i
                else:
                    start = cdf.slot_start(g, i)
                    if last is None or last[0] != start:
                        last = [start, key, start + (1 << g), inner, 1]
                        stretches.append(last)
                    else:
                        last[4] = inner - last[3] + 1
                    pending.append((mine, which, len(stretches) - 1, inner - last[3]))
                which += 1
    return stretches, pending, values


def _from_rows_sql(pg: bool, table: str, by: str, span: tuple[int, int]) -> tuple[str, list]:
    """The same figures from every reported summons blown in `span`, sorted
    by the database: cheaper than the histograms' three steps when the range
    holds few summonses a key (a month by compound), dearer when it holds
    many (a year), hence `ROWS_A_KEY`. PostgreSQL picks each key's three
    values itself; SQLite returns the minutes in order."""
    where = f"FROM {table} WHERE blown >= ? AND blown < ? AND minutes IS NOT NULL"
    if not pg:
        return f"SELECT {by}, minutes {where} ORDER BY {by}, minutes", list(span)
    # (grouped in the "C" collation: sorting the keys by the database's
    # locale took most of the statement)
    return ("SELECT key, a[(n + 1) / 2], a[n / 2 + 1], a[(9 * n + 9) / 10] FROM "
            f"(SELECT {by} COLLATE \"C\" AS key, COUNT(*) AS n, "
            f"array_agg(minutes ORDER BY minutes) AS a {where} GROUP BY 1) x", list(span))


# Reported summonses a key in the range below which `_from_rows_sql` is the
# cheaper way: sorting a row costs about a 75th of the histograms' work for
# a key (bench/dashboard_bench.py, a million whistles).
ROWS_A_KEY = 75


def periods_union(table: str, by: str, periods: list, columns: str) -> tuple[str, list]:
    """SELECT key, sign, columns from a rollup table over [(grain, lo, hi,
    sign)] periods."""
    parts, params = [], []
    for grain, lo, hi, sign in periods:
        parts.append(f"SELECT key, {int(sign)} AS sign, {columns} FROM {table} "
                     "WHERE dim = ? AND grain = ? AND period >= ? AND period < ?")
        params += [by, grain, lo, hi]
    return " UNION ALL ".join(parts), params


def _histograms(cur: Cursor, table: str, by: str, periods: list) -> dict[str, list]:
    """Per key [its group counts summed over the periods, the (sign, mask,
    stored slots) of its rows, {}: slot counts of the part-days, added later]."""
    if not periods:
        return {}
    union, params = periods_union(table, by, periods, "groups, slots")
    cur.execute(union, params, binary=True)
    out: dict[str, list] = {}
    for key, sign, groups, slots in cur.fetchall():
        entry = out.get(key)
        if entry is None:
            out[key] = entry = [0, [], {}]
        entry[0] += sign * int.from_bytes(groups, "little")
        entry[1].append((sign, cdf.mask_of(slots), slots))
    return out


def _stretches_sql(pg: bool, table: str, by: str, span: tuple[int, int],
                   stretches: list[list]) -> list[tuple[str, list]]:
    """The statements reading, for each stretch [lo, key, hi, rank, count]
    (numbered from 0), the minutes at ranks rank … rank + count − 1 (1-based)
    of the key's reported summonses blown in `span` with minutes in [lo, hi),
    from the index on (key, minutes, blown). The database walks each slot in
    order and stops at the last rank: only the rows wanted come back."""
    where = (f"s.{by} = w.key AND s.minutes >= w.lo AND s.minutes < w.hi "
             "AND s.minutes IS NOT NULL AND s.blown >= ? AND s.blown < ?")
    # The list of stretches drives the loop, one index seek each (LATERAL on
    # PostgreSQL; CROSS JOIN on SQLite). Joined freely, both planners would
    # rather scan the whole range of the index, or the whole table to build a
    # filter.
    if not stretches:
        return []
    if pg:  # one typed array a column, paired up again by unnest
        columns = [list(c) for c in zip(*stretches)]
        return [("SELECT w.i - 1, x.minutes FROM unnest(?::bigint[], ?::text[], ?::bigint[], "
                 "?::bigint[], ?::bigint[]) WITH ORDINALITY AS w(lo, key, hi, r, n, i) "
                 f"CROSS JOIN LATERAL (SELECT s.minutes FROM {table} s WHERE {where} "
                 "ORDER BY s.minutes OFFSET w.r - 1 LIMIT w.n) x", [*columns, *span])]
    # SQLite's OFFSET cannot name an outer column: number the rows instead
    numbered = list(enumerate(stretches))
    return [(f"WITH w(i, lo, key, hi, r, n) AS (VALUES "
             f"{', '.join('(?, ?, ?, ?, ?, ?)' for _ in chunk)}) "
             "SELECT i, minutes FROM (SELECT w.i, w.r, w.n, s.minutes, ROW_NUMBER() "
             f"OVER (PARTITION BY w.i ORDER BY s.minutes) AS o FROM w CROSS JOIN "
             f"{table} s WHERE {where}) WHERE o >= r AND o < r + n",
             [v for i, stretch in chunk for v in (i, *stretch)] + list(span))
            for chunk in (numbered[j:j + 200] for j in range(0, len(numbered), 200))]


def _stretch_minutes(sent: list[Cursor | Fetched], stretches: list[list]) -> list[list[int]]:
    """Per stretch its minutes, ascending, from the statements sent."""
    out: list[list[int]] = [[] for _ in stretches]
    for cur in sent:
        for i, minute in cur.fetchall():
            out[i].append(int(minute))
    if any(len(got) != stretch[4] for got, stretch in zip(out, stretches)):
        raise AssertionError("the histogram's two levels disagree")  # the view is corrupt
    for got in out:
        got.sort()
    return out
