"""Medians and 90th percentiles of minutes to report, exact, from the packed
histograms (dashboard_cdf.py) over whole periods plus the
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
   of `summonses`: one stretch of it per slot holding ranks, walked in order
   and stopped at the last of them, so one row per rank comes back (two for
   the median of an even n when both ranks share a slot, as they mostly do).
"""
from __future__ import annotations

from collections import defaultdict

from projections import dashboard_cdf as cdf
from projections.bulk import json_rows
from service_layer.db import Cursor


def percentiles(cur: Cursor, pg: bool, t: dict, by: str, span: tuple[int, int],
                intervals: list, periods: list) -> dict[str, tuple[float, int]]:
    """Per key (median, nearest-rank 90th percentile) of minutes to report
    over the whistles blown in `span` (µs), cut into `intervals` read row by
    row and whole `periods`."""
    f, k = cdf.field(by), cdf.GROUPS
    shares = []  # (key, group, packed group counts, packed slot counts) of the part-days
    for lo, hi in intervals:
        cur.execute(f"SELECT {by}, minutes FROM {t['summonses']} "
                    "WHERE blown >= ? AND blown < ? AND reported_at IS NOT NULL", [lo, hi])
        shares += [(key, *cdf.one(int(minute), f)) for key, minute in cur.fetchall()]

    groups = _group_sums(cur, pg, t["histograms"], by, periods)
    for key, _, up_group, _ in shares:
        groups[key] = groups.get(key, 0) + up_group
    # Per key the values at its three ranks: the median's two (the same one
    # for an odd n) and the 90th percentile's, filled in as they are found.
    values: dict[str, list[int]] = {}
    # (key, group) -> the ranks within the group and which of the three each is
    wanted: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    for key, packed in groups.items():
        totals = cdf.running(packed, k, f)
        n = cdf.size(totals, k, f)
        if not n:
            continue
        values[key] = [0, 0, 0]
        located = cdf.locate(totals, k, f, [(n + 1) // 2, n // 2 + 1, (9 * n + 9) // 10])
        for which, (g, within) in enumerate(located):
            ranks, whiches = wanted.setdefault((key, g), ([], []))
            ranks.append(within)
            whiches.append(which)

    slots = _slot_sums(cur, pg, t["histograms"], by, periods, list(wanted))
    for key, g, _, up_slot in shares:
        if (key, g) in wanted:
            slots[(key, g)] = slots.get((key, g), 0) + up_slot
    stretches: list[list] = []  # [first minute, key, end, first rank, ranks] of one slot
    pending = []  # (key, which, stretch, offset) of the values in the stretches
    last: list = [-1, ""]  # the last stretch
    for (key, g), (ranks, whiches) in wanted.items():  # a key's ranks come ascending
        n = cdf.width(g)
        located = cdf.locate(cdf.running(slots[(key, g)], n, f), n, f, ranks)
        if not g:  # a slot of group 0 is one minute
            mine = values[key]
            for (i, _), which in zip(located, whiches):
                mine[which] = i
            continue
        for (i, inner), which in zip(located, whiches):
            start = cdf.slot_start(g, i)
            if last[0] != start or last[1] != key:  # the two median ranks share a slot
                last = [start, key, start + (1 << g), inner, 1]  # often: one stretch
                stretches.append(last)
            else:
                last[4] = inner - last[3] + 1
            pending.append((key, which, len(stretches) - 1, inner - last[3]))
    minutes = _stretches(cur, pg, t["summonses"], by, span, stretches)
    for key, which, stretch, offset in pending:
        values[key][which] = minutes[stretch][offset]
    return {key: ((lo + hi) / 2, p90) for key, (lo, hi, p90) in values.items()}


def from_rows(cur: Cursor, t: dict, by: str, span: tuple[int, int]) -> dict[str, tuple[float, int]]:
    """The same figures from every reported summons blown in `span`, sorted
    by PostgreSQL: cheaper than the histograms' three steps when the range
    holds few summonses a key (a month by compound), dearer when it holds
    many (a year), hence `ROWS_A_KEY`."""
    # (grouped in the "C" collation: sorting the keys by the database's
    # locale took most of the statement)
    cur.execute("SELECT key, a[(n + 1) / 2], a[n / 2 + 1], a[(9 * n + 9) / 10] FROM "
                f"(SELECT {by} COLLATE \"C\" AS key, COUNT(*) AS n, "
                f"array_agg(minutes ORDER BY minutes) AS a FROM {t['summonses']} "
                "WHERE blown >= ? AND blown < ? AND minutes IS NOT NULL GROUP BY 1) x", span)
    return {key: ((lo + hi) / 2, p90) for key, lo, hi, p90 in cur.fetchall()}


# Reported summonses a key in the range below which `from_rows` is the
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


def _group_sums(cur: Cursor, pg: bool, table: str, by: str, periods: list) -> dict[str, int]:
    """Per key the packed group counts summed over the periods."""
    if not periods:
        return {}
    union, params = periods_union(table, by, periods, "groups")
    if pg:  # NUMERIC sums them in place: one number per key comes back
        cur.execute(f"SELECT key, SUM(sign * groups)::text FROM ({union}) u GROUP BY key",
                    params)
        return {key: int(v) for key, v in cur.fetchall()}
    cur.execute(union, params)
    out: dict[str, int] = {}
    for key, sign, v in cur.fetchall():
        out[key] = out.get(key, 0) + sign * int(v)
    return out


def _slot_sums(cur: Cursor, pg: bool, table: str, by: str, periods: list,
               pairs: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Per (key, group) pair the packed slot counts of that group summed over
    the periods."""
    if not periods or not pairs:
        return {}
    groups: dict[str, list[int]] = defaultdict(list)  # key -> its groups (three at most)
    for key, g in pairs:
        groups[key].append(g)
    if pg:  # one SUM per group a key wants, not per group any key wants: NUMERIC sums
        # of long numbers are most of this statement
        union, params = periods_union(table, by, periods, ", ".join(cdf.GROUP_COLUMNS))
        chosen = [" ".join(["CASE", f"w.g{i}", *(f"WHEN {g} THEN u.{c}" for g, c in
                                                 enumerate(cdf.GROUP_COLUMNS)), "END"])
                  for i in range(3)]
        wanted, more = json_rows("w", [("key", "text"), ("g0", "int"), ("g1", "int"),
                                       ("g2", "int")], [[key, *gs] for key, gs in groups.items()])
        cur.execute(f"SELECT u.key, {', '.join(f'SUM(u.sign * {c})::text' for c in chosen)} "
                    f"FROM ({union}) u JOIN {wanted} ON w.key = u.key GROUP BY u.key",
                    [*params, *more])
        return {(key, g): int(v) for key, *sums in cur.fetchall()
                for g, v in zip(groups[key], sums)}
    needed = sorted({g for _, g in pairs})
    columns = [cdf.GROUP_COLUMNS[g] for g in needed]
    union, params = periods_union(table, by, periods, ", ".join(columns))
    cur.execute(union, params)
    sums: dict[str, list[int]] = {}
    for key, sign, *values in cur.fetchall():
        acc = sums.setdefault(key, [0] * len(columns))
        for i, v in enumerate(values):
            acc[i] += sign * int(v)
    at = {g: i for i, g in enumerate(needed)}
    return {(key, g): sums[key][at[g]] for key, g in pairs if key in sums}


def _stretches(cur: Cursor, pg: bool, table: str, by: str, span: tuple[int, int],
               stretches: list[list]) -> list[list[int]]:
    """For each [lo, key, hi, rank, count]: the minutes at ranks rank …
    rank + count − 1 (1-based) of the key's reported summonses blown in `span`
    with minutes in [lo, hi), read from the index on (key, minutes, blown).
    The database walks each slot in order and stops at the last rank: only
    the rows wanted come back."""
    where = (f"s.{by} = w.key AND s.minutes >= w.lo AND s.minutes < w.hi "
             "AND s.minutes IS NOT NULL AND s.blown >= ? AND s.blown < ?")
    # The list of stretches drives the loop, one index seek each (LATERAL on
    # PostgreSQL; CROSS JOIN on SQLite). Joined freely, both planners would
    # rather scan the whole range of the index, or the whole table to build a
    # filter.
    if pg:  # one JSON text, not a parameter per value: those take longer to plan (and
        # arrays of text longer to pass) than the statement takes to run
        targets, more = json_rows("w", [("lo", "bigint"), ("key", "text"), ("hi", "bigint"),
                                        ("r", "bigint"), ("n", "bigint")], stretches)
        statements = [(f"SELECT w.i, x.minutes FROM {targets} CROSS JOIN LATERAL "
                       f"(SELECT s.minutes FROM {table} s WHERE {where} "
                       "ORDER BY s.minutes OFFSET w.r - 1 LIMIT w.n) x", [*more, *span])
                      ] if stretches else []
    else:  # SQLite's OFFSET cannot name an outer column: number the rows instead
        numbered = list(enumerate(stretches))
        statements = [(f"WITH w(i, lo, key, hi, r, n) AS (VALUES "
                       f"{', '.join('(?, ?, ?, ?, ?, ?)' for _ in chunk)}) "
                       "SELECT i, minutes FROM (SELECT w.i, w.r, w.n, s.minutes, ROW_NUMBER() "
                       f"OVER (PARTITION BY w.i ORDER BY s.minutes) AS o FROM w CROSS JOIN "
                       f"{table} s WHERE {where}) WHERE o >= r AND o < r + n",
                       [v for i, stretch in chunk for v in (i, *stretch)] + list(span))
                      for chunk in (numbered[j:j + 200] for j in range(0, len(numbered), 200))]
    out: list[list[int]] = [[] for _ in stretches]
    for statement in statements:
        cur.execute(*statement)
        for i, minute in cur.fetchall():
            out[i].append(int(minute))
    if any(len(got) != stretch[4] for got, stretch in zip(out, stretches)):
        raise AssertionError("the histogram's two levels disagree")  # the view is corrupt
    for got in out:
        got.sort()
    return out
