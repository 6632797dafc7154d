"""Reading the dashboard: `response_rates` over the live tables or any scratch
build of them (audit/replay.py `dashboard_as_of` builds one as of a past
moment). Definitions: docs/dashboard.md.

A range [from, to) is cut into whole local days, read from a few rollup rows
a key (dashboard_calendar.py), plus at most two part-days at its ends, read
row by row from `summonses` and counted by the same rules, so the figures do
not depend on where the range is cut. Medians and percentiles:
dashboard_percentiles.py. On PostgreSQL the statements are sent ahead in
turns, so the database works while Python does: a query by compound is some
2,000 keys of Python work and as many index seeks.
"""
from __future__ import annotations

from datetime import datetime
from collections.abc import Sequence
from typing import Any

from projections.feed import tracked_position
from projections.moments import parse_bound  # noqa: F401 - audit's dashboard query parses with it
from projections.dashboard.view import DIMENSIONS, DashboardView
from projections.dashboard.calendar import split, to_us
from projections.dashboard import cdf
from projections.dashboard import running
from projections.dashboard.percentiles import Percentiles, periods_union
from projections.dashboard.rows import COUNTS, row_measures
from adapters.db import Database
from adapters.eventstore import Log
from adapters.settings import DEFAULT_THREE_RATES_WEIGHTS

VIEW = DashboardView()

COLUMNS = ["key", "summonses", "reported", "reported_in_time", "response_rate",
           "median_minutes_to_report", "p90_minutes_to_report", "issues", "resolved",
           "resolution_rate", "rated", "satisfied", "satisfaction_rate", "first_satisfied",
           "first_contact_satisfaction_rate", "open", "overdue", "escalated",
           "three_rates_score"]


# -- the query ------------------------------------------------------------------
def response_rates(log: Log, prefix: str, from_: datetime, to: datetime, by: str,
                   now: datetime, departments: Sequence[str] = (),
                   weights: tuple[float, float, float] = DEFAULT_THREE_RATES_WEIGHTS
                   ) -> list[dict[str, Any]]:
    """One row per key over whistles blown in [from_, to), `overdue` judged at
    `now`, from the dashboard tables built under `prefix` ("" is live)."""
    return query(log, prefix, from_, to, by, now, departments, weights)[0]


def query(log: Log, prefix: str, from_: datetime, to: datetime, by: str,
          now: datetime, departments: Sequence[str] = (),
          weights: tuple[float, float, float] = DEFAULT_THREE_RATES_WEIGHTS
          ) -> tuple[list[dict[str, Any]], int]:
    """`response_rates` and the log position the tables had reached. By
    department, every one of `departments` has a row, summoned or not; the
    score weighs the three rates by `weights` (settings.three_rates_weights)."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    if not from_ < to:
        raise ValueError("from must be earlier than to")
    db = log.db
    t = VIEW.names(db, prefix)
    w = weights
    with db.transaction(commit=False) as cur:
        if db.is_postgres:  # one snapshot for every statement below
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # Each statement reads a few thousand rows: starting parallel
            # workers for them costs more than it saves.
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            # A range's minutes sorted by key (dashboard_percentiles): a
            # megacity's month (230,000 rows) spilled to disk with the default.
            cur.execute("SET LOCAL work_mem = '64MB'")
        position = tracked_position(db, cur, prefix + VIEW.name)
        intervals, periods = split(from_, to, running.last_month(cur, t["rollup"], by))
        if VIEW.stale(db, cur, prefix):  # mid-rebuild: no rollups, every row read
            intervals, periods = [(to_us(from_), to_us(to))], []
        span = (to_us(from_), to_us(to))
        ranks = Percentiles(cur, db.is_postgres, t, by, span, intervals, periods)
        # Python and the server take turns: each works while the other does.
        with cur.pipeline():
            sent = cur.send(*_counts_sql(t, by, intervals, periods, span, to_us(now)))
            ranks.locate()
            counts = {key: c for key, *c in sent.fetchall()}
            _check_width(by, counts)
            ranks.send()
            keys = set(counts) | (set(departments) if by == "department" else set())
            zero = [0] * (len(COUNTS) + 1)
            rows = [_row(k, counts.get(k, zero), w) for k in sorted(keys)]
            found = ranks.result()
    for row in rows:
        row["median_minutes_to_report"], row["p90_minutes_to_report"] = \
            found.get(row["key"], (None, None))
    return rows, position


def _check_width(by: str, counts: dict[str, list[int]]) -> None:
    """The packed histograms hold a key's counts over a range only while they
    stay below 2^BITS; beyond, their sums would carry into each other."""
    most = max((c[COUNTS.index("reported")] for c in counts.values()), default=0)
    if most >= 1 << cdf.BITS[by]:
        raise OverflowError(f"{most} reported summonses under one {by}: more than the "
                            f"dashboard's histograms hold (projections/dashboard/cdf.py)")


def _counts_sql(t: dict, by: str, intervals: list, periods: list, span: tuple[int, int],
                now: int) -> tuple[str, list]:
    """Per key the counts (rollup rows of the whole periods, `summonses` rows
    of the part-days), then the unmet items whose earliest pending deadline is
    still after `now` (overdue = unmet − these: only the recent backlog has a
    deadline in the future, and the partial indexes on the due times hold
    just that), and for places a row for every known key, so an idle one
    shows (with null rates): one statement."""
    union, params = periods_union(t["rollup"], by, periods, ", ".join(COUNTS) + ", 0 AS due")
    parts = [union] if union else []
    measures = ", ".join(f"{m} AS {c}" for m, c in zip(row_measures(by), COUNTS))
    for lo, hi in intervals:
        parts.append(f"SELECT {by} AS key, 1 AS sign, {measures}, 0 AS due "
                     f"FROM {t['summonses']} WHERE blown >= ? AND blown < ?")
        params += [lo, hi]
    zeros = ", ".join(f"0 AS {c}" for c in COUNTS)
    due = ("first_due > ?" if by == "department"
           else "lead = 1 AND issue_first_due > ?")
    # `blown + 0` keeps the planners off the index on blown: over a long
    # range it would visit every row, the due index only the recent ones.
    parts.append(f"SELECT {by} AS key, 0 AS sign, {zeros}, 1 AS due FROM {t['summonses']} "
                 f"WHERE {due} AND blown + 0 >= ? AND blown + 0 < ?")
    params += [now, *span]
    if by != "department":
        parts.append(f"SELECT {'code' if by == 'compound' else by} AS key, 0 AS sign, {zeros}, "
                     f"0 AS due FROM {t['compounds']}")
    # INTEGER terms: PostgreSQL sums them as BIGINT (its SUM of BIGINT is a
    # slower NUMERIC, a Decimal a value in Python)
    sums = ", ".join(f"SUM(CAST(sign * {c} AS INTEGER))" for c in COUNTS)
    return f"SELECT key, {sums}, SUM(due) FROM ({' UNION ALL '.join(parts)}) u GROUP BY key", params


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _row(key: str, c: list[int], w: tuple[float, float, float]) -> dict[str, Any]:
    """A key's row from its counts and not-yet-due items; its median and p90
    are filled in later."""
    (summonses, reported, in_time, issues, resolved, rated, satisfied, first_satisfied, open_,
     escalated, unmet, not_yet_due) = c
    response = _rate(in_time, summonses)
    resolution = _rate(resolved, issues)
    satisfaction = _rate(satisfied, rated)
    score = (None if response is None or resolution is None or satisfaction is None
             else 100 * (w[0] * response + w[1] * resolution + w[2] * satisfaction) / sum(w))
    return dict(key=key, summonses=summonses, reported=reported, reported_in_time=in_time,
                response_rate=response, median_minutes_to_report=None,
                p90_minutes_to_report=None, issues=issues, resolved=resolved,
                resolution_rate=resolution, rated=rated, satisfied=satisfied,
                satisfaction_rate=satisfaction, first_satisfied=first_satisfied,
                first_contact_satisfaction_rate=_rate(first_satisfied, rated), open=open_,
                overdue=unmet - not_yet_due, escalated=escalated, three_rates_score=score)


# -- the deadline watcher's candidates --------------------------------------------
def due(db: Database, prefix: str, now_us: int) -> list[tuple[str, str]]:
    """(compound, issue_id) pairs with a deadline passed by `now_us` whose
    escalation the view has not yet seen recorded (`watch_due`, kept by a
    partial index holding only those)."""
    table = VIEW.table(db, prefix, "summonses")
    return [(r[0], r[1]) for r in db.fetchall(
        f"SELECT DISTINCT compound, issue_id FROM {table} WHERE watch_due <= ? "
        "ORDER BY compound, issue_id", (now_us,))]
