"""Dashboard bench: GET response-rates on a million whistles, under 100 ms?

    python -m bench.dashboard_bench                       # 1,000,000 whistles, both engines
    python -m bench.dashboard_bench --whistles 10000      # a quick run
    python -m bench.dashboard_bench --engine sqlite --repeat 50

Three steps, each on a scratch database (a PostgreSQL schema or a SQLite file,
dropped afterwards):

1. Equivalence, at small scale (--verify whistles). The same synthetic
   histories are (a) played through the real use cases, so the compounds
   record real events, and the view is rebuilt from the log by its own apply;
   and (b) folded straight into view rows by the bulk loader below, with the
   rollups derived in SQL. Every query (each `by`, whole and cut ranges) must
   give identical rows, or the bench stops.
2. Load (--whistles): the bulk loader writes the `summonses` rows (COPY on
   PostgreSQL, executemany on SQLite) and derives the rollups from them
   (`rebuild_rollups`, timed on its own: what every rebuild of the view ends
   with). Playing a million whistles through the use cases would take hours
   and measure the write path, not the dashboard.
3. Query: `response_rates` (the function the endpoint calls, result rows
   included) for each `by` over a month, twelve months, the whole two years
   and a 30-day range cut mid-day, --repeat times each; p50 and p99 beside a
   plain COUNT(*) of the same summonses, timed in the same run, and the load
   average then (the machine may be shared).

The city: 2,000 compounds in 200 communities and 20 streets, 10 departments,
whistles spread over the two years before 1 May 2026 summoning one to three
departments; most report within hours, a few late or never; most issues are
resolved, many rated, some unsatisfied and reopened; an escalation pass runs
26 hours after each whistle, as the deadline watcher would.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from projections.feed import rebuild
from projections.dashboard.view import DashboardView
from projections.dashboard.calendar import LOCAL_TZ, local_day, periods, to_us
from projections.dashboard.rows import SUMMONS_COLUMNS, Issue
from projections.dashboard.query import query
from service_layer.bootstrap import Services, bootstrap
from adapters.settings import DEFAULT_DEPARTMENTS, Settings

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
END = datetime(2026, 5, 1, tzinfo=LOCAL_TZ)  # "now" of the bench
START = END - timedelta(days=730)
STREETS, COMMUNITIES, COMPOUNDS = 20, 200, 2000
TARGET_MS = 100.0
VIEW = DashboardView()


def _d(text: str) -> datetime:
    return datetime.fromisoformat(text)


RANGES = {
    "a month": (_d("2026-03-01T00:00+08:00"), _d("2026-04-01T00:00+08:00")),
    "12 months": (_d("2025-05-01T00:00+08:00"), _d("2026-05-01T00:00+08:00")),
    "2 years": (START, END),
    "30 days cut mid-day": (_d("2026-03-10T09:30+08:00"), _d("2026-04-09T17:45+08:00")),
}


# -- the synthetic city -------------------------------------------------------------
def places(compounds: int = COMPOUNDS) -> dict[str, tuple[str, str]]:
    """compound code -> (street, community)."""
    return {f"C{n:05d}": (f"S{n % STREETS:02d}", f"M{n % COMMUNITIES:03d}")
            for n in range(compounds)}


def histories(n: int, seed: int, codes: list[str]) -> Iterator[tuple]:
    """(code, issue_id, departments, urgency, blown, steps) per whistle; steps
    are (moment, kind, arg) in time order, those after END left out."""
    rnd = random.Random(seed)
    span = int((END - START).total_seconds())
    lognorm = rnd.lognormvariate
    for i in range(n):
        blown = START + timedelta(seconds=rnd.randrange(span))
        k = 1 if rnd.random() < 0.6 else 2 if rnd.random() < 0.75 else 3
        departments = rnd.sample(DEFAULT_DEPARTMENTS, k)
        urgent = rnd.random() < 0.2
        steps = [(blown + timedelta(hours=26), "escalate", None)]
        last = blown
        for d in departments:
            if rnd.random() < 0.97:
                minutes = lognorm(math.log(40 if urgent else 300), 0.9 if urgent else 1.0)
                t = blown + timedelta(minutes=min(minutes, 40_000), seconds=rnd.randrange(60))
                steps.append((t, "report", d))
                last = max(last, t)
        ratings = (("satisfied", 0.6), ("basically_satisfied", 0.25), ("unsatisfied", 0.15))
        for _ in range(2):  # at most one reopening
            if rnd.random() > 0.95:
                break
            last += timedelta(hours=lognorm(math.log(10 if urgent else 72), 0.8))
            steps.append((last, "resolve", departments[0]))
            if rnd.random() > 0.75:
                break
            last += timedelta(hours=rnd.uniform(1, 48))
            rating = rnd.choices([r for r, _ in ratings], [w for _, w in ratings])[0]
            steps.append((last, "rate", rating))
            if rating != "unsatisfied":
                break
        steps = sorted(s for s in steps if s[0] <= END)
        yield (codes[rnd.randrange(len(codes))], f"w{seed}-{i}", departments,
               "urgent" if urgent else "normal", blown, steps)


def fold(history: tuple, where: dict[str, tuple[str, str]], policy) -> Issue:
    """The bulk loader's path: a history straight into the view's Issue,
    deciding escalations as Compound.escalations_due does."""
    code, issue_id, departments, urgency, blown, steps = history
    street, community = where[code]
    b = to_us(blown)
    issue = Issue.blown(code, street, community, issue_id, departments, b,
                        to_us(policy.report_due(urgency, blown)),
                        to_us(policy.resolve_due(urgency, blown)), periods(local_day(b)))
    for at, kind, arg in steps:
        if kind == "report":
            issue.reported(arg, to_us(at))
        elif kind == "resolve":
            issue.resolved()
        elif kind == "rate":
            issue.rated(arg)
            if arg == "unsatisfied":
                issue.reopened(to_us(policy.resolve_due(urgency, at)))
        else:
            us = to_us(at)  # each summons has deadlines of its own (extensions)
            for d in departments:
                if issue.rows[d]["reported_at"] is None and us >= issue.rows[d]["report_due"]:
                    issue.escalated(f"not_reported:{d}", [d])
            late = [d for d in departments if us >= issue.rows[d]["resolve_due"]]
            if issue.head["open"] and late:
                issue.escalated(f"not_resolved:{issue.head['reopened']}", late)
    return issue


def play(services: Services, history: tuple) -> None:
    """The real path: the same history through the use cases."""
    code, issue_id, departments, urgency, blown, steps = history
    g = services.governance
    g.blow_whistle(code, grid_worker="bench", issue_id=issue_id, category="noise",
                   description="bench", departments=departments, urgency=urgency,
                   source="resident", grid=None, building=None, unit=None, at=blown)
    for at, kind, arg in steps:
        if kind == "report":
            g.report_in(code, issue_id, department=arg, officer="o", at=at)
        elif kind == "resolve":
            g.resolve(code, issue_id, department=arg, how="h", at=at)
        elif kind == "rate":
            g.rate(code, issue_id, rating=arg, comment=None, rated_by="bench", at=at)
        else:
            g.escalate_due(code, issue_id, at=at)


# -- loading ----------------------------------------------------------------------
def load(services: Services, prefix: str, n: int, seed: int,
         where: dict[str, tuple[str, str]]) -> tuple[int, float]:
    """Bulk-loads n whistles into the view's tables under prefix; returns the
    summons rows and the seconds the rollups took to derive from them (what
    a rebuild of the view spends once the log is read)."""
    db, policy = services.db, services.settings.deadlines
    t = VIEW.names(db, prefix)
    with db.transaction() as cur:
        VIEW.drop_tables(db, cur, prefix)
        VIEW.create_tables(db, cur, prefix)
        cur.executemany(f"INSERT INTO {t['compounds']} (id, code, street, community) "
                        "VALUES (?, ?, ?, ?)", [(c, c, s, m) for c, (s, m) in where.items()])
    rows = (r for h in histories(n, seed, list(where)) for r in fold(h, where, policy).table_rows())
    count = 0
    with db.transaction() as cur:
        if db.is_postgres:
            raw = cur._cursor  # noqa: SLF001 - COPY is not part of the small Cursor wrapper
            with raw.copy(f"COPY {t['summonses']} ({', '.join(SUMMONS_COLUMNS)}) "
                          "FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        else:
            batch: list[tuple] = []
            sql = (f"INSERT INTO {t['summonses']} ({', '.join(SUMMONS_COLUMNS)}) VALUES "
                   f"({', '.join('?' for _ in SUMMONS_COLUMNS)})")
            for row in rows:
                batch.append(row)
                if len(batch) == 50_000:
                    cur.executemany(sql, batch)
                    count, batch = count + len(batch), []
            cur.executemany(sql, batch)
            count += len(batch)
    t0 = time.perf_counter()
    with db.transaction() as cur:
        VIEW.rebuild_rollups(db, cur, prefix)
    seconds = time.perf_counter() - t0
    _vacuum(services, prefix)
    return count, seconds


def _vacuum(services: Services, prefix: str) -> None:
    """Statistics for the planners, and on PostgreSQL the visibility map that
    index-only scans need (autovacuum's job in a live database)."""
    db = services.db
    if not db.is_postgres:
        db.execute("ANALYZE")
        return
    import psycopg
    url = (services.settings.database_url or "").split("?")[0]
    with psycopg.connect(url, autocommit=True) as conn:
        for base in VIEW.tables:
            conn.execute(f"VACUUM ANALYZE {VIEW.table(db, prefix, base)}")


def verify(services: Services, n: int, seed: int) -> None:
    """Events through the real view == histories through the bulk loader."""
    where = {code: place for code, place in list(places(40).items())}
    for code, (street, community) in where.items():
        services.governance.register_compound(
            code=code, name=code, district="D", street=street, community=community, grids=[],
            households=100, kind="old", management_mode="professional", at=START)
    for h in histories(n, seed + 1, list(where)):
        play(services, h)
    rebuild(services.log, VIEW, "va_")
    load(services, "vb_", n, seed + 1, where)
    checked = 0
    for by in ("department", "street", "community", "compound"):
        for name, (f, to) in RANGES.items():
            a = query(services.log, "va_", f, to, by, END)[0]
            b = query(services.log, "vb_", f, to, by, END)[0]
            if a != b:
                bad = next((x, y) for x, y in zip(a, b) if x != y)
                raise SystemExit(f"bulk loader differs from the events for by={by}, {name}: "
                                 f"{bad}")
            checked += 1
    print(f"verified: {n} whistles, {checked} queries: rows built from real events by the "
          f"view's apply == rows from the bulk loader", file=sys.stderr)


# -- measuring --------------------------------------------------------------------
def timed(fn, repeat: int) -> tuple[float, float]:
    """(p50, p99) in ms of `repeat` calls of `fn`, after one call to warm the caches."""
    fn()  # warm the caches once
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)]
    return statistics.median(times), p99


@contextlib.contextmanager
def _collected_as_served() -> Iterator[None]:
    """The garbage collector set as in the API process that answers the
    endpoint: with Python's defaults a full collection ran every third query
    by compound at a million whistles, 10-30 ms of its p90."""
    from api.app import GC_THRESHOLD
    saved = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def measure(services: Services, engine: str, n: int, rows: int, repeat: int) -> list[dict]:
    db, out = services.db, []
    table = VIEW.table(db, "", "summonses")
    for by in ("department", "street", "community", "compound"):
        for name, (f, to) in RANGES.items():
            with _collected_as_served():
                p50, p99 = timed(lambda: query(services.log, "", f, to, by, END), repeat)
            params = (to_us(f), to_us(to))
            b50, b99 = timed(lambda: db.fetchall(
                f"SELECT COUNT(*) FROM {table} WHERE blown >= ? AND blown < ?", params), repeat)
            # The machine may be shared: the load average says how much.
            busy = os.getloadavg()[0]
            out.append(dict(
                figure=f"dashboard by {by}, {name} ({engine}, {n:,} whistles)", value=p99,
                unit="ms", baseline=b99, baseline_label="p99 COUNT(*) of the same summonses",
                lower_is_better=True,
                note=f"p50 {p50:.1f} ms vs COUNT(*) p50 {b50:.1f} ms; "
                     f"{'meets' if p99 < TARGET_MS else 'MISSES'} the {TARGET_MS:.0f} ms target; "
                     f"load average {busy:.1f}"))
    return out


@contextlib.contextmanager
def scratch(engine: str, prefix: str = "dash") -> Iterator[str]:
    """A store of its own for one benchmark run: a temporary SQLite file, or a
    PostgreSQL schema dropped afterwards."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite"
        return
    from adapters.db import scratch_schema
    with scratch_schema(PG_URL, prefix=prefix) as url:
        yield url


def run(whistles: int | None = None, quick: bool = False, seed: int = 7,
        engines: tuple[str, ...] = ("postgres", "sqlite"), repeat: int | None = None,
        verify_whistles: int | None = None, **_: object) -> list[dict]:
    """Rows for bench/run.py (and this module's own table)."""
    n = whistles or (10_000 if quick else 1_000_000)
    repeat = repeat or (5 if quick else 30)
    verify_whistles = 100 if quick and verify_whistles is None else verify_whistles or 300
    out = []
    for engine in engines:
        with scratch(engine) as url:
            # The verify path writes serially.
            services = bootstrap(Settings(database_url=url, group_commit=False))
            try:
                verify(services, verify_whistles, seed)
                t0 = time.perf_counter()
                rows, derive = load(services, "", n, seed, places())
                seconds = time.perf_counter() - t0
                out.append(dict(figure=f"dashboard bulk load ({engine}, {n:,} whistles)",
                                value=n / seconds, unit="whistles/s",
                                note=f"{rows:,} summons rows and rollups in {seconds:.0f} s"))
                out.append(dict(figure=f"dashboard rollups from rows ({engine}, {n:,} whistles)",
                                value=rows / derive, unit="summonses/s",
                                note=f"rebuild_rollups in {derive:.0f} s, load average "
                                     f"{os.getloadavg()[0]:.1f}"))
                out += measure(services, engine, n, rows, repeat)
            finally:
                services.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--whistles", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--verify", type=int, default=300, help="whistles for the check")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    engines = ("postgres", "sqlite") if args.engine == "both" else (args.engine,)
    rows = run(whistles=args.whistles, seed=args.seed, engines=engines, repeat=args.repeat,
               verify_whistles=args.verify)
    print("| figure | p99 | p50 and baseline |\n|---|---:|---|")
    for r in rows:
        unit = r.get("unit", "")
        print(f"| {r['figure']} | {r['value']:,.1f} {unit} | "
              f"{r.get('note', '')}{'; COUNT(*) p99 %.1f ms' % r['baseline'] if 'baseline' in r else ''} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
