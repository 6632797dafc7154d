"""Work queues on a megacity (issue 14): `GET /v1/issues` with each single
filter, each sort and the inbox, first page and a page deep, over HTTP.

    python -m bench.queues_megacity log --size megacity --url postgresql://…/bench_megacity
    redwhistle project --rebuild all      # DATABASE_URL=postgresql://…/bench_megacity
    python -m bench.queues_megacity build --url postgresql://…/bench_megacity_q
    python -m bench.queues_megacity copy --url postgresql://… --to sqlite:///…/q.sqlite
    python -m bench.queues_megacity probe --url postgresql://… [--probes 30]

`log` loads the city's log itself (`bench/city.py`, the same seed; 10.2M
events at `--size megacity`) through the real use cases, for the views to
be rebuilt from it as an operator would. `build`, the quicker stand-in,
fills only the issues view, as a rebuild would: `bench/city.py`'s city
(same size and seed: 30,000 compounds, 938 streets, 7,500 communities, 79
districts, one to four grids a compound) runs its year of commands through
the real use cases with the aggregates in memory (`BulkLoader`), and what
they record goes to the issues view's own `apply` in batches instead of
into the log (which the lists never read), then `settle` builds the list
indexes and ANALYZE runs, as at the end of a rebuild. In both, half the
whistles (by a seeded hash of the issue) carry their description in Chinese,
as 12345 tickets do, so `q` has both scripts to search. `copy` puts the same
rows into SQLite through the view's bulk path (begin_rebuild, insert, settle).

`probe` serves the app (`redwhistle serve --no-follow`, one process) on that
database and asks each list `probes` times, one request at a time on one
keep-alive connection, all lists in turn each round; beside each, the same
run's baseline: the same page's rows (issues and their summonses) read by an
indexed SELECT of their keys, in-process; and `GET /v1/categories` (a token
checked, a constant answer), the HTTP floor.
A deep page starts at the cursor of the row 90% of the way through that list.
`explain` prints EXPLAIN ANALYZE of the statements of the lists asked.

One module, though past 400 lines: building the view, copying it and asking
it are one bench, run in that order; the figures are in bench/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from bench import city as city_mod
from bench.dashboard_bench import timed
from bench.ingest_bench import Request, Server, percentile
from bench.mixed_bench import _probe
from domain.ids import compound_id
from projections.bulk import insert_rows, where_in
from projections.feed import analyze
from projections.issues.query import (ISSUE_SELECT, ISSUE_SORTS, INBOX_SORTS, SUMMONS_KEYS,
                                      Conditions, encode_cursor, issue_filters, list_inbox,
                                      list_issues, tables)
from projections.issues.view import (COMPANY_COLUMNS, COMPOUND_COLUMNS, ISSUE_COLUMNS,
                                     MEETING_COLUMNS, NO_DUE, SUMMONS_COLUMNS, IssuesView)
from projections.moments import moment

VIEW = IssuesView()
COLUMNS = dict(compounds=COMPOUND_COLUMNS, issues=ISSUE_COLUMNS, summonses=SUMMONS_COLUMNS,
               companies=COMPANY_COLUMNS, meetings=MEETING_COLUMNS)
TARGET_MS = 50.0

CHINESE = {
    "blocked_fire_lane": "{b}号楼旁的消防通道被车辆和摊位堵塞",
    "flying_wire_charging": "{b}号楼有人从窗户飞线给电动车充电",
    "corridor_clutter": "{b}号楼楼道里堆满家具和纸箱",
    "parking_disorder": "{b}号楼门口和草坪上乱停车",
    "leak": "{b}号楼屋顶漏水，渗进住户家里",
    "illegal_construction": "{b}号楼一楼花园里违章搭建棚子",
    "cooking_fume": "饭店油烟吹进{b}号楼住户的窗户",
    "noise": "{b}号楼楼下商铺夜间噪音扰民",
    "elevator_fault": "{b}号楼的电梯停在两层之间",
    "water_supply": "{b}号楼二次供水水泵故障，水压低",
    "green_space_misuse": "{b}号楼旁的绿地被种菜养鸡",
    "public_security": "{b}号楼旁路灯损坏，大门没锁",
    "neighbour_dispute": "{b}号楼邻居因楼道堵塞争吵",
}


# -- building the view ---------------------------------------------------------------
def in_chinese(command: city_mod.Command) -> city_mod.Command:
    """Half the whistles described in Chinese, chosen by the issue id."""
    if command.op != "blow_whistle" or hashlib.md5(
            command.kwargs["issue_id"].encode()).digest()[0] % 2:
        return command
    k = command.kwargs
    return replace(command, kwargs=dict(k, description=CHINESE[k["category"]].format(
        b=k["building"])))


class ViewLoader(city_mod.BulkLoader):
    """The real use cases, aggregates in memory; what they record is folded
    by the issues view's `apply`, never written to the log."""

    def flush(self) -> None:
        db = self.services.db
        events = [e for a in self.dirty.values() for e in a.collect_events()]
        if events:
            with db.transaction() as cur:
                VIEW.apply(db, cur, "", [(0, e) for e in events])
        self.events += len(events)
        self.pending = 0
        self.dirty.clear()


def _loading(url: str) -> Any:
    """The services of the store at `url`, for running a city's commands."""
    from adapters.settings import Settings
    from service_layer import snapshots
    from service_layer.bootstrap import bootstrap
    # What a use case answers (a deep copy of the issue) is thrown away here;
    # copying it was half the time of each command.
    snapshots.issue = lambda c, issue_id: None  # type: ignore[assignment]
    snapshots.compound = lambda c: None  # type: ignore[assignment]
    return bootstrap(Settings(database_url=url, group_commit=False))


def build(url: str, size: str = "city", block: int = 500, clones: int = 10) -> None:
    services = _loading(url)
    db = services.db
    try:
        with db.transaction() as cur:
            VIEW.drop_tables(db, cur, "")
            VIEW.create_tables(db, cur, "")
            VIEW.begin_rebuild(db, cur, "")
        city = city_mod.generate(size)
        loader = ViewLoader(services, flush_events=50_000)
        t0 = time.perf_counter()
        loader.run(city.setup_commands())
        n = len(city.compounds)
        for i in range(0, n, block):
            specs = city.compounds[i:i + block]
            loader.run(in_chinese(c) for c in city.year_commands(specs, companies=i + block >= n))
            for spec in specs:  # each compound's year is done: let it go
                loader.cache.pop(compound_id(spec.code), None)
            s = time.perf_counter() - t0
            print(f"{i + len(specs):,} compounds, {loader.events:,} events, {s:.0f} s "
                  f"({loader.events / s:,.0f} events/s)", flush=True)
        folded = time.perf_counter()
        if clones > 1:
            clone(db, clones)
        cloned = time.perf_counter()
        print(f"folded {loader.events:,} events in {folded - t0:.0f} s; cloned {clones}x in "
              f"{cloned - folded:.0f} s", flush=True)
        with db.transaction() as cur:
            VIEW.settle(db, cur, "")
        settled = time.perf_counter()
        analyze(services.log, VIEW)
        print(f"settle (list indexes) {settled - cloned:.0f} s; "
              f"analyze {time.perf_counter() - settled:.0f} s")
        print(counts(services))
    finally:
        services.close()


def log(url: str, size: str = "megacity") -> None:
    """The city's log itself, not a stand-in: its year through the use cases
    (`BulkLoader`, COPY), half the whistles in Chinese; `redwhistle project
    --rebuild all` then builds every view from it."""
    services = _loading(url)
    try:
        city = city_mod.generate(size)
        loader = city_mod.BulkLoader(services, flush_events=50_000)
        t0 = time.perf_counter()
        shown = [0]

        def progress(loader: city_mod.BulkLoader) -> None:
            if loader.events - shown[0] >= 500_000:
                shown[0] = loader.events
                s = time.perf_counter() - t0
                print(f"{loader.events:,} events, {s:.0f} s "
                      f"({loader.events / s:,.0f} events/s)", flush=True)

        loader.run((in_chinese(c) for c in city.commands()), progress)
        s = time.perf_counter() - t0
        print(f"loaded {loader.events:,} events from {loader.commands:,} commands in {s:.0f} s "
              f"({loader.events / s:,.0f} events/s)", flush=True)
    finally:
        services.close()


def clone(db: Any, times: int) -> None:
    """Each compound `times` over under new names ("k3." before a compound's
    code, district, street and community; new issue ids), so a city's rows
    fill a megacity's geography (PostgreSQL)."""
    mapped = {"compound": "'k{k}.' || compound", "code": "'k{k}.' || code",
              "district": "'k{k}.' || district", "street": "'k{k}.' || street",
              "community": "'k{k}.' || community", "id": "md5('{k}' || id)::uuid::text",
              "issue_id": "md5('{k}' || issue_id)::uuid::text",
              "duplicate_of": "md5('{k}' || duplicate_of)::uuid::text"}
    for base, columns in COLUMNS.items():
        if base in ("companies", "meetings"):
            continue
        table = VIEW.table(db, "", base)
        for k in range(1, times):
            values = ", ".join(mapped.get(c, c).format(k=k) for c in columns)
            with db.transaction() as cur:
                cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "
                            f"FROM {table} WHERE {columns[0]} NOT LIKE 'k%'")


def counts(services: Any) -> dict[str, int]:
    t = tables(services.log)
    return {b: services.db.fetchall(f"SELECT COUNT(*) FROM {t[b]}")[0][0]
            for b in ("issues", "summonses", "compounds")}


def copy(url: str, to: str) -> None:
    """The rows of the view at `url` into the store at `to`, by its bulk path."""
    from adapters.settings import Settings
    from service_layer.bootstrap import bootstrap
    source = bootstrap(Settings(database_url=url, group_commit=False))
    target = bootstrap(Settings(database_url=to, group_commit=False))
    db = target.db
    try:
        t0 = time.perf_counter()
        with db.transaction() as cur:
            VIEW.drop_tables(db, cur, "")
            VIEW.create_tables(db, cur, "")
            VIEW.begin_rebuild(db, cur, "")
        for base, columns in COLUMNS.items():
            src, dst = VIEW.table(source.db, "", base), VIEW.table(db, "", base)
            with source.db.transaction(commit=False) as scur:
                scur.execute(f"SELECT {', '.join(columns)} FROM {src}")
                while rows := scur._cursor.fetchmany(50_000):
                    with db.transaction() as cur:
                        insert_rows(db, cur, dst, columns, rows)
        copied = time.perf_counter()
        with db.transaction() as cur:
            VIEW.settle(db, cur, "")
        print(f"copied in {copied - t0:.0f} s; settle {time.perf_counter() - copied:.0f} s; "
              f"{counts(target)}")
    finally:
        source.close()
        target.close()


# -- probing over HTTP ---------------------------------------------------------------
@dataclass
class Case:
    label: str
    params: dict[str, str]  # as the API takes them
    sort: str = "blown"
    inbox: str | None = None  # a department's inbox instead of /v1/issues
    who: str = "admin"  # or "department" (officer-fire) or "official" (of `street`)
    street: str | None = None


def cases(db: Any) -> list[Case]:
    """The lists probed; the places are those of the issue a third of the way
    through the table's key order (a clone's, in a cloned build)."""
    t = tables_of(db)
    n = db.fetchall(f"SELECT COUNT(*) FROM {t['issues']}")[0][0]
    district, street, community, compound = db.fetchall(
        f"SELECT district, street, community, compound FROM {t['issues']} "
        "ORDER BY compound, issue_id LIMIT 1 OFFSET ?", [n // 3])[0]
    y = db.fetchall(f"SELECT MAX(blown_at) FROM {t['issues']}")[0][0][:4]
    out = [Case("no filter", {})]
    out += [Case(f"{k}={v}", {k: v}) for k, v in (
        ("status", "open"), ("status", "closed"), ("status", "awaiting_decision"),
        ("department", "fire"), ("department", "elevator_safety"),
        ("district", district), ("street", street), ("community", community),
        ("compound", compound), ("grid", "G2"), ("category", "elevator_fault"),
        ("source", "hotline_12345"), ("urgency", "urgent"), ("overdue", "true"),
        ("overdue", "false"), ("escalated", "true"), ("blown_from", f"{y}-12-01T00:00:00+08:00"),
        ("blown_to", f"{y}-02-01T00:00:00+08:00"),
        ("q", "电梯"), ("q", "飞线"), ("q", "电动车"), ("q", "消防通道"), ("q", "无此"),
        ("q", "不存在"), ("q", "stairwell"), ("q", "lift"), ("q", "nowhere"),
        # One or two ASCII letters or digits: common, fairly rare, in no row.
        ("q", "a"), ("q", "no"), ("q", "12"), ("q", "q"), ("q", "20"), ("q", "37"), ("q", "x"),
        ("q", "zq"))]
    out += [Case(f"sort={s}", {}, sort=s) for s in ("-blown", "updated", "-updated", "due", "-due")]
    out += [Case("fire's own list (department token)", {}, who="department"),
            Case("an official's street", {}, who="official", street=street)]
    out += [Case(f"inbox of {d}, sort={s}", {}, sort=s, inbox=d)
            for d, s in (("fire", "due"), ("fire", "-due"), ("fire", "blown"),
                         ("elevator_safety", "due"))]
    return out


def tables_of(db: Any) -> dict[str, str]:
    return {b: VIEW.table(db, "", b) for b in VIEW.tables}


def parsed(case: Case) -> dict[str, Any]:
    """The filters as the router hands them to the query."""
    f: dict[str, Any] = dict(case.params)
    for name in ("overdue", "escalated"):
        if name in f:
            f[name] = f[name] == "true"
    if case.params.get("status") is not None:
        f["status"] = case.params["status"]
    for name in ("blown_from", "blown_to"):
        if name in f:
            f[name] = moment(datetime.fromisoformat(f[name]))
    return f


class Lists:
    """The query functions the endpoints call, in-process: the rows of a page
    (for the baseline) and the cursor of a deep page."""

    def __init__(self, services: Any) -> None:
        self.services, self.log, self.db = services, services.log, services.db
        self.t = tables(self.log)

    def scope(self, case: Case) -> tuple[Conditions, str | None]:
        if case.who == "department":
            return Conditions(), "fire"
        if case.who == "official":
            return Conditions().add("i.street = ?", case.street), None
        return Conditions(), None

    def page(self, case: Case, cursor: str | None, now: str) -> tuple[list[dict], str | None]:
        scope, department = self.scope(case)
        if case.inbox:
            return list_inbox(self.log, case.inbox, parsed(case), scope, case.sort, 50, cursor,
                              now)
        return list_issues(self.log, parsed(case), scope, case.sort, 50, cursor, now,
                           department=department)

    def deep_cursor(self, case: Case, now: str) -> tuple[str | None, int]:
        """The cursor of the row 90% of the way through the list, and its length."""
        scope, department = self.scope(case)
        descending = case.sort.startswith("-")
        if case.inbox:
            c = Conditions().add("s.department = ?", case.inbox).add("s.due_at < ?", NO_DUE)
            column, table, alias, kind = (INBOX_SORTS[case.sort.lstrip("-")], self.t["summonses"],
                                          "s", "inbox")
        else:
            f = dict(parsed(case), department=department or case.params.get("department"))
            c = Conditions().extend(scope).extend(issue_filters(self.t, f, now,
                                                                     self.db.is_postgres))
            column, table, alias, kind = (ISSUE_SORTS[case.sort.lstrip("-")], self.t["issues"],
                                          "i", "issues")
        way = " DESC" if descending else ""
        n = self.db.fetchall(f"SELECT COUNT(*) FROM {table} {alias} WHERE {c.where()}",
                             c.params)[0][0]
        if n <= 50:
            return None, n
        key = self.db.fetchall(
            f"SELECT {column}, {alias}.compound, {alias}.issue_id FROM {table} {alias} "
            f"WHERE {c.where()} ORDER BY {column}{way}, {alias}.compound{way}, "
            f"{alias}.issue_id{way} LIMIT 1 OFFSET ?", [*c.params, int(n * 0.9)])[0]
        return encode_cursor(kind, case.sort, tuple(key)), n

    def same_rows(self, items: list[dict]) -> None:
        """The baseline: the page's issues and their summonses by their keys."""
        ids = sorted({i["issue_id"] for i in items})
        with self.db.transaction(commit=False) as cur:
            for where, params in where_in(self.db, "i.issue_id", ids):
                cur.execute(f"SELECT {ISSUE_SELECT} FROM {self.t['issues']} i WHERE {where}",
                            params)
                cur.fetchall()
            for where, params in where_in(self.db, "issue_id", ids):
                cur.execute(f"SELECT {', '.join(SUMMONS_KEYS)} FROM {self.t['summonses']} "
                            f"WHERE {where}", params)
                cur.fetchall()


def path(case: Case, cursor: str | None) -> str:
    from urllib.parse import urlencode
    params = dict(case.params, sort=case.sort, limit="50", **({"cursor": cursor} if cursor else {}))
    base = f"/v1/departments/{case.inbox}/inbox" if case.inbox else "/v1/issues"
    return f"{base}?{urlencode(params)}"


def probe(url: str, probes: int = 30, only: str | None = None,
          skip: str | None = None) -> list[dict[str, Any]]:
    from adapters.settings import Settings
    from service_layer.bootstrap import bootstrap
    services = bootstrap(Settings(database_url=url, group_commit=False))
    engine = "postgres" if services.db.is_postgres else "sqlite"
    try:
        todo = [c for c in cases(services.db) if (not only or only in c.label)
                and not (skip and skip in c.label)]
        street = next(c.street for c in todo + cases(services.db) if c.street)
        tokens = {"admin": services.tokens.create(role="admin", name="bench-admin"),
                  "department": services.tokens.create(role="department", name="officer-fire",
                                                       department="fire"),
                  "official": services.tokens.create(role="official", name="bench-official",
                                                     street=street)}
        lists = Lists(services)
        now = moment(datetime.now(timezone.utc))
        requests = [Request("GET", "/v1/categories", None, tokens["admin"], "floor")]
        plan: dict[str, tuple[Case, str, list[dict], int]] = {}
        for case in todo:
            deep, n = lists.deep_cursor(case, now)
            for page, cursor in (("first", None), ("deep", deep)):
                if page == "deep" and cursor is None:
                    continue
                label = f"{case.label} · {page}"
                plan[label] = (case, page, lists.page(case, cursor, now)[0], n)
                requests.append(Request("GET", path(case, cursor), None, tokens[case.who],
                                        label))
        baselines = {label: timed(lambda: lists.same_rows(items), probes)
                     for label, (_, _, items, _) in plan.items()}
        with Server(url, follow=False) as server:
            asyncio.run(_probe(server.port, requests, 2))  # warm-up
            timings = asyncio.run(_probe(server.port, requests, probes))
    finally:
        services.close()
    errors = {k: v[:3] for k, v in timings.items() if k.endswith("errors")}
    if errors:
        raise RuntimeError(f"lists failed: {errors}")
    floor = timings.pop("floor")
    out = [dict(list="GET /v1/categories (the floor)", engine=engine, page="",
                p50=percentile(floor, 50) * 1000, p99=percentile(floor, 99) * 1000,
                b50=0.0, b99=0.0, rows=0, of=0)]
    for label, (case, page, items, n) in plan.items():
        seconds = timings[label]
        b50, b99 = baselines[label]
        out.append(dict(list=case.label, engine=engine, page=page,
                        p50=percentile(seconds, 50) * 1000, p99=percentile(seconds, 99) * 1000,
                        b50=b50, b99=b99, rows=len(items), of=n))
    return out


def explain(url: str, only: str) -> None:
    """EXPLAIN ANALYZE of the statements the lists whose label holds `only`
    run, first and deep page (PostgreSQL)."""
    import adapters.db as db_mod
    from adapters.settings import Settings
    from service_layer.bootstrap import bootstrap
    services = bootstrap(Settings(database_url=url, group_commit=False))
    lists = Lists(services)
    now = moment(datetime.now(timezone.utc))
    recorded: list[tuple[str, list]] = []
    original = db_mod.Cursor.execute

    def recording(self: Any, sql: str, params: Any = (), binary: bool = False) -> None:
        recorded.append((sql, list(params)))
        original(self, sql, params, binary)
    try:
        for case in cases(services.db):
            if only not in case.label:
                continue
            deep, _ = lists.deep_cursor(case, now)
            for page, cursor in (("first", None), ("deep", deep)):
                recorded.clear()
                db_mod.Cursor.execute = recording  # type: ignore[method-assign]
                try:
                    lists.page(case, cursor, now)
                finally:
                    db_mod.Cursor.execute = original  # type: ignore[method-assign]
                sql, params = recorded[0]
                print(f"-- {case.label} · {page}\n{sql}\n{params}")
                for (line,) in services.db.fetchall(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params):
                    print(line)
    finally:
        services.close()


def print_rows(rows: list[dict[str, Any]]) -> None:
    print("| list | page | HTTP p50 | HTTP p99 | baseline p50 | baseline p99 | rows (of) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        miss = " ✗" if r["p99"] >= TARGET_MS else ""
        print(f"| {r['list']} | {r['page']} | {r['p50']:.1f} | {r['p99']:.1f}{miss} | "
              f"{r['b50']:.1f} | {r['b99']:.1f} | {r['rows']} ({r['of']:,}) |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queues_megacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("log", "build", "copy", "probe", "explain"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--to", help="copy: the store to copy the view into")
    parser.add_argument("--size", default="city",
                        help="log: the city loaded; build: the city folded (then cloned)")
    parser.add_argument("--clones", type=int, default=10)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--only", help="probe: only the lists whose label holds this")
    parser.add_argument("--skip", help="probe: not the lists whose label holds this")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.what == "log":
        log(args.url, args.size)
    elif args.what == "build":
        build(args.url, args.size, clones=args.clones)
    elif args.what == "copy":
        copy(args.url, args.to)
    elif args.what == "explain":
        explain(args.url, args.only or "")
    else:
        print_rows(probe(args.url, args.probes, args.only, args.skip))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
