"""Medians and 90th percentiles of minutes to report, exact, from the packed
histograms of `cdf` (dashboard_cdf.py) over whole periods plus the
`summonses` rows of part-days, and the minutes of a few slots from `summonses`.

With the n reported summonses of a key in ascending order, the median is the
mean of the values at ranks ⌊(n+1)/2⌋ and ⌊n/2⌋+1, the 90th percentile the
value at rank ⌈0.9·n⌉. Three steps, each reading little:

1. the packed group counts, summed over the periods: one number per key,
   which tells the group (a range of minutes) of each rank;
2. the packed slot counts of just those groups, summed the same way: the
   slot of each rank and how many values lie before it in the slot;
3. the value at each rank from the slot holding it (none for minutes below
   64, whose slot is the minute), from the index on (key, minutes, blown)
   of `summonses`: one stretch of it per rank, walked in order and stopped
   at the rank, so one row per rank comes back.
"""
from __future__ import annotations

import json
from collections import defaultdict

from projections import dashboard_cdf as cdf
from service_layer.db import Cursor

def percentiles(cur: Cursor, pg: bool, t: dict, by: str, span: tuple[int, int],
                intervals: list, periods: list) -> dict[str, tuple[float, int]]:
    """Per key (median, nearest-rank 90th percentile) of minutes to report
    over the whistles blown in `span` (µs), cut into `intervals` read row by
    row and whole `periods`."""
    part_days: list[tuple[str, int]] = []  # (key, minute) of the part-days' reported summonses
    for lo, hi in intervals:
        cur.execute(f"SELECT {by}, minutes FROM {t['summonses']} "
                    "WHERE blown >= ? AND blown < ? AND reported_at IS NOT NULL", [lo, hi])
        part_days += [(k, int(m)) for k, m in cur.fetchall()]
    w = cdf.DIGITS[by]
    shares = [(key, minute, *cdf.one(minute, w)) for key, minute in part_days]

    groups = _group_sums(cur, pg, t["cdf"], by, periods)
    for key, _, _, up_group, _ in shares:
        groups[key] = groups.get(key, 0) + up_group
    wanted: dict[tuple[str, int], list[int]] = defaultdict(list)  # (key, group) -> ranks in it
    for key, packed in groups.items():
        totals = cdf.running(packed, cdf.GROUPS, w)
        n = int(totals[-1])
        if n:
            ranks = [(n + 1) // 2, n // 2 + 1, (9 * n + 9) // 10]
            for g, rank in cdf.locate(totals, ranks):
                wanted[(key, g)].append(rank)

    slots = _slot_sums(cur, pg, t["cdf"], by, periods, sorted(wanted))
    for key, _, g, _, up_slot in shares:
        if (key, g) in wanted:
            slots[(key, g)] = slots.get((key, g), 0) + up_slot
    found: dict[str, list] = defaultdict(list)  # key -> the values at the three ranks
    # (key, slot start, slot end, rank within the slot, which of the three)
    fine: list[tuple[str, int, int, int, int]] = []
    for (key, g), ranks in sorted(wanted.items()):  # a key's groups, so its ranks, ascending
        values = found[key]
        for i, rank in cdf.locate(cdf.running(slots[(key, g)], cdf.width(g), w), ranks):
            values.append(None if g else i)  # a slot of group 0 is one minute
            if g:
                start = cdf.slot_start(g, i)
                fine.append((key, start, start + (1 << g), rank, len(values) - 1))

    for (key, _, _, _, which), minute in zip(fine, _nth_minutes(
            cur, pg, t["summonses"], by, span, fine)):
        found[key][which] = minute
    return {key: ((lo + hi) / 2, p90) for key, (lo, hi, p90) in found.items()}


def periods_union(table: str, by: str, periods: list, columns: str) -> tuple[str, list]:
    """SELECT key, columns from a rollup table over [(grain, lo, hi)] periods."""
    parts, params = [], []
    for grain, lo, hi in periods:
        parts.append(f"SELECT key, {columns} FROM {table} "
                     "WHERE dim = ? AND grain = ? AND period >= ? AND period < ?")
        params += [by, grain, lo, hi]
    return " UNION ALL ".join(parts), params


def _group_sums(cur: Cursor, pg: bool, table: str, by: str, periods: list) -> dict[str, int]:
    """Per key the packed group counts summed over the periods."""
    if not periods:
        return {}
    union, params = periods_union(table, by, periods, "groups")
    if pg:  # NUMERIC sums them in place: one number per key comes back
        cur.execute(f"SELECT key, SUM(groups)::text FROM ({union}) u GROUP BY key", params)
        return {key: int(v) for key, v in cur.fetchall()}
    cur.execute(union, params)
    out: dict[str, int] = {}
    for key, v in cur.fetchall():
        out[key] = out.get(key, 0) + int(v)
    return out


def _slot_sums(cur: Cursor, pg: bool, table: str, by: str, periods: list,
               pairs: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Per (key, group) pair the packed slot counts of that group summed over
    the periods. The rows are read once for all the groups wanted (a few: the
    ranks of most keys fall in the same ones), each summed for every key."""
    if not periods or not pairs:
        return {}
    needed = sorted({g for _, g in pairs})
    columns = [cdf.GROUP_COLUMNS[g] for g in needed]
    union, params = periods_union(table, by, periods, ", ".join(columns))
    sums: dict[str, list[int]] = {}
    if pg:
        cur.execute(f"SELECT key, {', '.join(f'SUM({c})::text' for c in columns)} "
                    f"FROM ({union}) u GROUP BY key", params)
        sums = {key: [int(v) for v in values] for key, *values in cur.fetchall()}
    else:
        cur.execute(union, params)
        for key, *values in cur.fetchall():
            acc = sums.setdefault(key, [0] * len(columns))
            for i, v in enumerate(values):
                acc[i] += int(v)
    return {(key, g): sums[key][needed.index(g)] for key, g in pairs if key in sums}


def _nth_minutes(cur: Cursor, pg: bool, table: str, by: str, span: tuple[int, int],
                 targets: list[tuple[str, int, int, int, int]]) -> list[int]:
    """For each (key, lo, hi, rank, _): the minute at that rank (1-based) of
    the key's reported summonses blown in `span` with minutes in [lo, hi),
    read from the index on (key, minutes, blown). The database walks each
    slot in order and stops at the rank: one row per target comes back."""
    where = (f"s.{by} = w.key AND s.minutes >= w.lo AND s.minutes < w.hi "
             "AND s.minutes IS NOT NULL AND s.blown >= ? AND s.blown < ?")
    out: dict[int, int] = {}
    # The list of targets drives the loop, one index seek per target (LATERAL
    # on PostgreSQL; CROSS JOIN on SQLite). Joined freely, both planners would
    # rather scan the whole range of the index, or the whole table to build a
    # filter.
    if pg:  # one JSON text, not a parameter per value: those take longer to plan (and
        # arrays of text longer to pass) than the statement takes to run
        statements = [("SELECT w.i, x.minutes FROM json_to_recordset(?::json) "
                       "AS w(i int, key text, lo bigint, hi bigint, r bigint) CROSS JOIN LATERAL "
                       f"(SELECT s.minutes FROM {table} s WHERE {where} "
                       "ORDER BY s.minutes OFFSET w.r - 1 LIMIT 1) x",
                       [json.dumps([dict(i=i, key=k, lo=lo, hi=hi, r=r)
                                    for i, (k, lo, hi, r, _) in enumerate(targets)]), *span])
                      ] if targets else []
    else:  # SQLite's OFFSET cannot name an outer column: number the rows instead
        numbered = list(enumerate(targets))
        statements = [(f"WITH w(i, key, lo, hi, r) AS (VALUES "
                       f"{', '.join('(?, ?, ?, ?, ?)' for _ in chunk)}) "
                       "SELECT i, minutes FROM (SELECT w.i, w.r, s.minutes, ROW_NUMBER() OVER "
                       f"(PARTITION BY w.i ORDER BY s.minutes) AS n FROM w CROSS JOIN {table} s "
                       f"WHERE {where}) WHERE n = r",
                       [v for i, (k, lo, hi, r, _) in chunk for v in (i, k, lo, hi, r)]
                       + list(span))
                      for chunk in (numbered[j:j + 200] for j in range(0, len(numbered), 200))]
    for statement in statements:
        cur.execute(*statement)
        out.update((int(i), int(m)) for i, m in cur.fetchall())
    if len(out) != len(targets):
        raise AssertionError("the histogram's two levels disagree")  # the view is corrupt
    return [out[i] for i in range(len(targets))]
