"""Medians and 90th percentiles of minutes to report, exact, from the
dashboard's two-level histogram (coarse `buckets`, fine `minutes`) over whole
periods plus the `summonses` rows of part-days."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from service_layer.db import Cursor


def percentiles(cur: Cursor, t: dict, by: str, intervals: list,
                 periods: list) -> dict[str, tuple[float, int]]:
    """Per key (median, nearest-rank 90th percentile) of minutes to report.

    With the n reported summonses in ascending order, the median is the mean
    of the values at ranks ⌊(n+1)/2⌋ and ⌊n/2⌋+1, the 90th percentile the
    value at rank ⌈0.9·n⌉. Two steps: the coarse histogram tells, for each
    rank, which bucket holds it and how many values lie before that bucket;
    then only those buckets' minutes are read."""
    part_days = []  # (key, bucket, minute) of the reported summonses of the part-days
    for lo, hi in intervals:
        cur.execute(f"SELECT {by}, bucket, minutes FROM {t['summonses']} "
                    "WHERE blown >= ? AND blown < ? AND reported_at IS NOT NULL", [lo, hi])
        part_days += [(k, int(b), int(m)) for k, b, m in cur.fetchall()]
    coarse: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    if periods:
        union, params = periods_union(t["buckets"], by, periods, "bucket, n")
        # Rows of several periods are summed below anyway; grouping them in
        # SQL first only saves moving them, and a single period has nothing
        # to group (PostgreSQL would even spill its hash table to disk).
        if sum(hi - lo for _, lo, hi in periods) > 1:
            union = f"SELECT key, bucket, SUM(n) FROM ({union}) u GROUP BY key, bucket"
        cur.execute(union, params)
        for key, bucket, n in cur.fetchall():
            coarse[key][int(bucket)] += int(n)
    for key, bucket, _ in part_days:
        coarse[key][bucket] += 1
    wanted = {key: _locate(hist) for key, hist in coarse.items()}  # key -> [(bucket, rank)]
    pairs = sorted({(k, b) for k, targets in wanted.items() for b, _ in targets})
    fine: dict[tuple[str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for statement in _minutes_statements(t["minutes"], by, periods, pairs):
        cur.execute(*statement)
        for key, bucket, minute, n in cur.fetchall():
            fine[(key, int(bucket))][int(minute)] += int(n)
    chosen = set(pairs)
    for key, bucket, minute in part_days:
        if (key, bucket) in chosen:
            fine[(key, bucket)][minute] += 1
    out = {}
    for key, targets in wanted.items():
        lo, hi, p90 = (_nth(fine[(key, b)], rank) for b, rank in targets)
        out[key] = ((lo + hi) / 2, p90)
    return out


def periods_union(table: str, by: str, periods: list, columns: str) -> tuple[str, list]:
    """SELECT key, columns from a rollup table over [(grain, lo, hi)] periods."""
    parts, params = [], []
    for grain, lo, hi in periods:
        parts.append(f"SELECT key, {columns} FROM {table} "
                     "WHERE dim = ? AND grain = ? AND period >= ? AND period < ?")
        params += [by, grain, lo, hi]
    return " UNION ALL ".join(parts), params


def _locate(hist: dict[int, int]) -> list[tuple[int, int]]:
    """For the three ranks: (bucket holding it, its rank within the bucket)."""
    n = sum(hist.values())
    ranks = [(n + 1) // 2, n // 2 + 1, (9 * n + 9) // 10]
    out, before = [], 0
    for bucket in sorted(hist):
        while ranks and before + hist[bucket] >= ranks[0]:
            out.append((bucket, ranks.pop(0) - before))
        before += hist[bucket]
    return out


def _minutes_statements(table: str, by: str, periods: list,
                        pairs: list[tuple[str, int]]) -> Iterator[tuple[str, list]]:
    """Statements reading the minutes of the given (key, bucket) pairs over
    whole periods: per bucket and run of periods, `key IN (...)` seeks each
    key in the index (dim, grain, key, bucket, period). A join against a list
    of pairs would read the same rows, but SQLite may first scan the whole
    table to build a Bloom filter for it."""
    by_bucket: dict[int, list[str]] = defaultdict(list)
    for key, bucket in pairs:
        by_bucket[bucket].append(key)
    parts = []
    for bucket, keys in sorted(by_bucket.items()):
        for grain, lo, hi in periods:
            for chunk in (keys[i:i + 500] for i in range(0, len(keys), 500)):
                parts.append((f"SELECT key, bucket, minute, n FROM {table} WHERE dim = ? "
                              f"AND grain = ? AND bucket = ? AND key IN "
                              f"({', '.join('?' for _ in chunk)}) AND period >= ? AND period < ?",
                              [by, grain, bucket, *chunk, lo, hi]))
    for i in range(0, len(parts), 200):  # SQLite allows 500 SELECTs in one compound
        group = parts[i:i + 200]
        yield (f"SELECT key, bucket, minute, SUM(n) FROM "
               f"({' UNION ALL '.join(sql for sql, _ in group)}) u GROUP BY key, bucket, minute",
               [v for _, params in group for v in params])


def _nth(counts: dict[int, int], rank: int) -> int:
    """The minute at `rank` (1-based) of a bucket's minutes and their counts."""
    seen = 0
    for minute in sorted(counts):
        seen += counts[minute]
        if seen >= rank:
            return minute
    raise AssertionError("the histogram's two levels disagree")  # the view is corrupt
