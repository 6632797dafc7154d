"""Work-queue bench: GET /v1/issues and a department's inbox, p99 < 50 ms?

    python -m bench.issues_bench                         # 1,000,000 issues, both engines
    python -m bench.issues_bench --issues 20000 --engine sqlite --repeat 20

Loads synthetic rows straight into the issues view's tables (COPY on
PostgreSQL, executemany on SQLite: playing a million whistles through the use
cases would measure the write path), then times the query functions the
endpoints call (`list_issues`, `list_inbox`: rows and their summonses
included) for each single filter, each sort, a page deep into the list (the
cursor of the row 90% of the way through) and the inbox, beside a plain
indexed SELECT of the same page's rows timed in the same run. Not HTTP: the
framework's own cost is bench/framework_floor.py's.
"""
from __future__ import annotations

import argparse
import os
import random
from datetime import datetime, timedelta, timezone

from projections.feed import analyze
from projections.bulk import insert_rows
from projections.issues.view import ISSUE_COLUMNS, NO_DUE, SUMMONS_COLUMNS, IssuesView
from projections.issues.query import Conditions, encode_cursor, list_inbox, list_issues
from projections.moments import moment
from service_layer.bootstrap import Services, bootstrap
from adapters.settings import DEFAULT_CATEGORIES, DEFAULT_DEPARTMENTS, Settings
from bench.dashboard_bench import scratch, timed

NOW = datetime(2026, 5, 1, tzinfo=timezone.utc)
TARGET_MS = 50.0
VIEW = IssuesView()


def load(services: Services, n: int, seed: int = 7) -> None:
    rnd, db = random.Random(seed), services.db
    issues, summonses = [], []
    for k in range(n):
        street = f"S{k % 20:02d}"
        compound = f"C{k % 2000:04d}"
        blown = NOW - timedelta(minutes=rnd.randrange(730 * 24 * 60))
        status = rnd.choice(("open", "resolved", "resolved", "resolved", "duplicate"))
        departments = rnd.sample(DEFAULT_DEPARTMENTS, rnd.choice((1, 1, 2, 3)))
        report_due, resolve_due = blown + timedelta(hours=24), blown + timedelta(days=7)
        due = moment(resolve_due) if status == "open" else NO_DUE
        iid = f"{k:08d}-0000-4000-8000-000000000000"
        issues.append((compound, iid, f"Compound {compound}", "D1", street,
                       f"M{k % 200:03d}", f"G{k % 8}", rnd.choice(DEFAULT_CATEGORIES),
                       "grid_patrol", rnd.choice(("normal", "urgent")), status,
                       f"第{k}号 楼道堆物 issue {k}", "w", moment(blown), moment(blown),
                       moment(report_due), moment(resolve_due), due, "street",
                       int(rnd.random() < 0.1), 0, None, 0, ",".join(departments), None,
                       None))
        for d in departments:
            state = "awaiting_resolution" if status == "open" else "resolved"
            summonses.append((compound, iid, d, state, moment(blown), moment(report_due),
                              moment(resolve_due), moment(blown), due, None, None, None, None,
                              0, moment(blown)))
    t = {b: VIEW.table(db, "", b) for b in VIEW.tables}
    with db.transaction() as cur:
        VIEW.create_tables(db, cur, "")
        for i in range(0, n, 50_000):
            insert_rows(db, cur, t["issues"], ISSUE_COLUMNS, issues[i:i + 50_000])
        insert_rows(db, cur, t["summonses"], SUMMONS_COLUMNS, summonses)
    analyze(services.log, VIEW)
    if not db.is_postgres:
        db.execute("ANALYZE")


def measure(services: Services, engine: str, n: int, repeat: int) -> list[dict]:
    db, now = services.db, moment(NOW)
    table = VIEW.table(db, "", "issues")
    deep_key = db.fetchall(f"SELECT blown_at, compound, issue_id FROM {table} "
                           f"ORDER BY blown_at, compound, issue_id LIMIT 1 OFFSET ?",
                           [int(n * 0.9)])[0]
    cases = [("no filter", {}, "blown", None), ("street", {"street": "S07"}, "blown", None),
             ("community", {"community": "M042"}, "blown", None),
             ("compound", {"compound": "C0042"}, "blown", None),
             ("category", {"category": "noise"}, "blown", None),
             ("status open", {"status": "open"}, "blown", None),
             ("department", {"department": "fire"}, "blown", None),
             ("overdue", {"overdue": True}, "due", None),
             ("sort -updated", {}, "-updated", None),
             ("deep page (90%)", {}, "blown",
              encode_cursor("issues", "blown", tuple(deep_key)))]
    out = []
    for name, filters, sort, cursor in cases:
        p50, p99 = timed(lambda: list_issues(services.log, filters, Conditions(), sort, 50,
                                              cursor, now, department=filters.get("department")),
                          repeat)
        b50, b99 = timed(lambda: db.fetchall(
            f"SELECT * FROM {table} ORDER BY blown_at, compound, issue_id LIMIT 50"), repeat)
        out.append(_row(f"GET /v1/issues {name}", engine, n, p50, p99, b50, b99))
    p50, p99 = timed(lambda: list_inbox(services.log, "fire", {}, Conditions(), "due", 50, None, now),
                      repeat)
    stable = VIEW.table(db, "", "summonses")
    b50, b99 = timed(lambda: db.fetchall(
        f"SELECT * FROM {stable} WHERE department = ? "
        "ORDER BY due_at, compound, issue_id LIMIT 50", ["fire"]), repeat)
    out.append(_row("inbox of fire", engine, n, p50, p99, b50, b99))
    return out


def _row(figure: str, engine: str, n: int, p50: float, p99: float, b50: float,
         b99: float) -> dict:
    return dict(figure=f"{figure} ({engine}, {n:,} issues)", value=p99, unit="ms",
                baseline=b99, baseline_label="p99 indexed SELECT of a page",
                lower_is_better=True,
                note=f"p50 {p50:.1f} vs {b50:.1f} ms; "
                     f"{'meets' if p99 < TARGET_MS else 'MISSES'} {TARGET_MS:.0f} ms; "
                     f"load average {os.getloadavg()[0]:.1f}")


def run(issues: int = 1_000_000, engines: tuple[str, ...] = ("postgres", "sqlite"),
        repeat: int = 30) -> list[dict]:
    out = []
    for engine in engines:
        with scratch(engine, prefix="queues") as url:
            services = bootstrap(Settings(database_url=url, group_commit=False))
            try:
                load(services, issues)
                out += measure(services, engine, issues, repeat)
            finally:
                services.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    engines = ("postgres", "sqlite") if args.engine == "both" else (args.engine,)
    for row in run(args.issues, engines, args.repeat):
        print(f"{row['figure']:<60} p99 {row['value']:7.1f} ms  baseline {row['baseline']:6.1f}"
              f"  {row['note']}")


if __name__ == "__main__":
    main()
