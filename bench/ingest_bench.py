"""Figure 1, ingest: whistles through HTTP on PostgreSQL, beside what the
library and the database can do on the same machine in the same run.
One module, though long: ours and the baselines are only comparable when
they run in one run, through the one harness below.

- ours, saturated: `redwhistle serve` in a subprocess (its API process(es)
  and background parts as `redwhistle serve`, access log off), driven by
  `connections` keep-alive HTTP/1.1 clients in a closed loop for `seconds`;
  whistles/s and the latency of each request (p50, p99).
- ours, at a fixed rate (`rate`/s, open loop, latency counted from the moment
  each request was due, so a stalled server cannot hide its queue).
- bare append: the same WhistleBlown events saved by the eventsourcing
  library in-process, one event per `save()` from as many threads as the
  server has connections: no HTTP, no validation, no group commit.
- COPY: the same events' stored rows written by psycopg COPY into a copy of
  the events table, 5,000 rows a transaction: the database's limit here.

    python -m bench.ingest_bench --size district --seconds 10
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from bench import city as city_mod
from adapters.db import scratch_schema

DEFAULT_PG = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of a live process, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- the server --------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (serve's API workers and follower)."""
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    found += process_tree(int(child))
    except OSError:
        pass
    return found


def is_follow(pid: int) -> bool:
    """Whether a process is `redwhistle follow` (serve's child for the views)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"follow" in f.read().split(b"\0")
    except OSError:
        return False


class Server:
    """`redwhistle serve` in a subprocess on a free port, with the access log
    off (a log line per request would be measured too)."""

    def __init__(self, database_url: str, group_commit: bool = True,
                 env: dict[str, str] | None = None, workers: int = 1,
                 follow: bool = True, app: str | None = None) -> None:
        self.port = free_port()
        self.workers = workers
        self.follow = follow
        self.app = app  # another app factory for uvicorn instead of `serve`
        self.env = dict(os.environ, DATABASE_URL=database_url,
                        GROUP_COMMIT="1" if group_commit else "0", **(env or {}))
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        command = ([sys.executable, "-m", "uvicorn", "--factory", self.app,
                    "--port", str(self.port), "--log-level", "warning"] if self.app else
                   [sys.executable, "-m", "cli.main", "serve", "--port", str(self.port),
                    "--workers", str(self.workers), "--log-level", "warning"]
                   + ([] if self.follow else ["--no-follow"]))
        self.proc = subprocess.Popen(
            command,
            env=self.env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("server did not answer /health within 60 s")

    def peak_rss_mb(self) -> dict[str, float]:
        """Peak RSS of the API process(es) and, apart, of the follower."""
        assert self.proc is not None
        peaks = {"api": 0.0, "follow": 0.0}
        for pid in process_tree(self.proc.pid):
            peaks["follow" if is_follow(pid) else "api"] += peak_rss_mb(pid)
        return peaks

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# -- a lean HTTP/1.1 load generator -------------------------------------------------
class Request:
    __slots__ = ("method", "path", "data", "label")

    def __init__(self, method: str, path: str, body: Any, token: str, label: str) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        self.method, self.path, self.data, self.label = method, path, head.encode() + payload, label


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    data: bytes) -> int:
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _drive(port: int, requests: Iterator[Request], connections: int, seconds: float,
                 rate: float | None, warmup: float) -> dict[str, Any]:
    """Closed loop (rate None) or open loop at `rate` requests/s. Latencies
    of requests completed after `warmup` seconds are kept, by label."""
    start = time.perf_counter()
    stop = start + warmup + seconds
    measured_from = start + warmup
    latencies: dict[str, list[float]] = {}
    statuses: dict[int, int] = {}
    done = 0
    slot = 0
    lock = asyncio.Lock()

    async def next_request() -> tuple[Request, float] | None:
        nonlocal slot
        async with lock:
            if rate:
                due = start + slot / rate
                slot += 1
                now = time.perf_counter()
                if due >= stop:
                    return None
                if due > now:
                    await asyncio.sleep(due - now)
            else:
                due = time.perf_counter()
                if due >= stop:
                    return None
            try:
                return next(requests), due
            except StopIteration:
                return None

    async def client() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                item = await next_request()
                if item is None:
                    return
                request, due = item
                status = await _exchange(reader, writer, request.data)
                finished = time.perf_counter()
                statuses[status] = statuses.get(status, 0) + 1
                if finished >= measured_from:
                    latencies.setdefault(request.label, []).append(finished - max(due, 0))
                    done += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - measured_from
    return dict(latencies=latencies, statuses=statuses, done=done, seconds=elapsed)


async def wait_for_views(port: int, token: str, year: int, timeout: float) -> float:
    """Asks for the dashboard with ?after=<last position> until the views have
    caught up with the loaded history; returns the seconds it took. `token`
    is an admin's: /health shows the position to admins and auditors."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t0 = time.perf_counter()
    try:
        health = Request("GET", "/health", None, token, "health")
        writer.write(health.data)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int([ln for ln in head.split(b"\r\n")
                      if ln.lower().startswith(b"content-length:")][0].split(b":")[1])
        position = json.loads(await reader.readexactly(length))["position"]
        probe = Request("GET", f"/v1/dashboard/response-rates?from={year}-01-01&to={year + 1}"
                               f"-01-01&after={position}", None, token, "wait")
        while time.perf_counter() - t0 < timeout:
            if await _exchange(reader, writer, probe.data) == 200:
                return time.perf_counter() - t0
        raise RuntimeError(f"views did not reach position {position} in {timeout:.0f} s")
    finally:
        writer.close()


def drive(port: int, requests: Iterator[Request], connections: int = 32, seconds: float = 10,
          rate: float | None = None, warmup: float = 1.0) -> dict[str, Any]:
    return asyncio.run(_drive(port, requests, connections, seconds, rate, warmup))


def summary(result: dict[str, Any], label: str | None = None) -> dict[str, float]:
    lat = [x for k, v in result["latencies"].items() if label in (None, k) for x in v]
    return dict(count=len(lat), per_second=len(lat) / result["seconds"] if result["seconds"] else 0,
                p50_ms=percentile(lat, 50) * 1000, p99_ms=percentile(lat, 99) * 1000,
                mean_ms=(statistics.fmean(lat) * 1000) if lat else float("nan"))


# -- preparing a store with the city's compounds -------------------------------------
def prepare(database_url: str, city: city_mod.City, history: bool = False) -> dict[str, str]:
    """Registers the city's companies and compounds (with contracts and
    committees), and with `history` loads its whole year too; makes a token
    per grid worker (one per community, scoped to its street), department,
    street official, and an admin and a viewer; returns the tokens by name."""
    from service_layer.bootstrap import bootstrap
    from adapters.settings import Settings
    services = bootstrap(Settings(database_url=database_url))
    try:
        loader = city_mod.BulkLoader(services)
        loader.run(city.commands() if history else city.setup_commands())
        return make_tokens(services, city)
    finally:
        services.close()


def make_tokens(services: Any, city: city_mod.City) -> dict[str, str]:
    tokens = {"admin": services.tokens.create(role="admin", name="bench-admin"),
              "viewer": services.tokens.create(role="viewer", name="bench-viewer")}
    for spec in city.compounds:
        if spec.grid_worker not in tokens:
            tokens[spec.grid_worker] = services.tokens.create(
                role="grid_worker", name=spec.grid_worker, street=spec.street)
    for dept in services.settings.departments:
        tokens[f"officer-{dept}"] = services.tokens.create(
            role="department", name=f"officer-{dept}", department=dept)
    for street in city.streets:
        tokens[f"official-{street}"] = services.tokens.create(
            role="official", name=f"official-{street}", street=street)
    return tokens


def whistle_requests(city: city_mod.City, tokens: dict[str, str]) -> Iterator[Request]:
    """The city's whistles as the grid workers would send them (server clock,
    no `at`), over and over with fresh issue ids if a run outlasts them."""
    whistles = city.whistles()
    lap = 0
    while True:
        for cmd in whistles:
            method, path, body = city_mod.http(cmd)  # type: ignore[misc]
            body.pop("at")
            if lap:
                body["issue_id"] = str(uuid.uuid5(uuid.UUID(body["issue_id"]), str(lap)))
            yield Request(method, path, body, tokens[cmd.actor], "whistle")
        lap += 1


def floor_requests(requests: Iterator[Request]) -> Iterator[Request]:
    for r in requests:
        r.data = r.data.replace(b"POST /v1/compounds/", b"POST /floor/compounds/", 1)
        yield r


# -- the baselines -------------------------------------------------------------------
def whistle_events(city: city_mod.City, count: int) -> list[Any]:
    """`count` WhistleBlown events as the domain makes them (for the baselines)."""
    from domain.compound import Compound
    from domain.deadlines import DeadlinePolicy
    policy = DeadlinePolicy()
    compounds: dict[str, Compound] = {}
    events = []
    for cmd in city.whistles(count):
        spec_kwargs = dict(cmd.kwargs)
        c = compounds.get(cmd.code)
        if c is None:
            c = compounds[cmd.code] = Compound.register(
                code=cmd.code, name=cmd.code, district="D", street="S", community="C",
                grids=[], households=100, kind="old", management_mode="professional",
                at=cmd.at)
            c.collect_events()
        c.blow_whistle(**spec_kwargs, policy=policy, at=cmd.at)
        events += c.collect_events()
    return events


def bare_append(database_url: str, events: list[Any], threads: int,
                seconds: float) -> dict[str, float]:
    """A bare eventsourcing application appends the events one per save()
    from `threads` threads (each its own aggregates, so no conflicts): the
    library's rate without HTTP, validation or group commit."""
    from eventsourcing.application import Application

    from adapters.settings import eventsourcing_env

    class Bare(Application):
        name = "Bare"

    app = Bare(env=eventsourcing_env(database_url + "&pool_size=%d" % (threads + 2)))
    try:
        # Re-home each event onto a per-thread fresh aggregate id, keeping
        # versions consecutive, so threads never collide.
        per_thread = [events[i::threads] for i in range(threads)]
        done = [0] * threads
        stop_at = time.perf_counter() + seconds
        latencies: list[list[float]] = [[] for _ in range(threads)]

        def work(i: int) -> None:
            versions: dict[Any, int] = {}
            ids: dict[Any, Any] = {}
            for e in per_thread[i]:
                if time.perf_counter() >= stop_at:
                    return
                new_id = ids.setdefault(e.originator_id, uuid.uuid4())
                v = versions[new_id] = versions.get(new_id, 0) + 1
                copy = type(e)(**dict(e.__dict__, originator_id=new_id, originator_version=v))
                t = time.perf_counter()
                app.save(copy)
                latencies[i].append(time.perf_counter() - t)
                done[i] += 1

        t0 = time.perf_counter()
        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - t0
        lat = [x for ls in latencies for x in ls]
        return dict(per_second=sum(done) / elapsed, count=sum(done),
                    p50_ms=percentile(lat, 50) * 1000, p99_ms=percentile(lat, 99) * 1000)
    finally:
        app.close()


def bare_batched(database_url: str, events: list[Any], per_save: int = 100) -> dict[str, float]:
    """The same, 100 events per save() from one thread (what batching buys)."""
    from eventsourcing.application import Application

    from adapters.settings import eventsourcing_env

    class BareBatch(Application):
        name = "BareBatch"

    app = BareBatch(env=eventsourcing_env(database_url))
    try:
        versions: dict[Any, int] = {}
        ids: dict[Any, Any] = {}
        copies = []
        for e in events:
            new_id = ids.setdefault(e.originator_id, uuid.uuid4())
            v = versions[new_id] = versions.get(new_id, 0) + 1
            copies.append(type(e)(**dict(e.__dict__, originator_id=new_id, originator_version=v)))
        t0 = time.perf_counter()
        for i in range(0, len(copies), per_save):
            app.save(*copies[i:i + per_save])
        elapsed = time.perf_counter() - t0
        return dict(per_second=len(copies) / elapsed, count=len(copies))
    finally:
        app.close()


def copy_rows(database_url: str, events: list[Any], per_copy: int = 5000) -> dict[str, float]:
    """psycopg COPY of the same stored rows into a copy of the events table."""
    from service_layer.bootstrap import bootstrap
    from adapters.settings import Settings
    services = bootstrap(Settings(database_url=database_url))
    try:
        app = services.app
        schema = services.db.schema or "public"
        table = f'"{schema}".bench_copy_events'
        with services.db.transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {table} "
                        f'(LIKE "{schema}".{app.recorder.events_table_name} INCLUDING ALL)')
        rows = [app.mapper.to_stored_event(e) for e in events]
        datastore = app.factory.datastore
        t0 = time.perf_counter()
        for i in range(0, len(rows), per_copy):
            with datastore.transaction(commit=True) as cur:
                cur.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
                city_mod._copy(cur, table, rows[i:i + per_copy])
        elapsed = time.perf_counter() - t0
        return dict(per_second=len(rows) / elapsed, count=len(rows))
    finally:
        services.close()


# -- the suite -----------------------------------------------------------------------
def run(size: str | int = "district", seconds: float = 10.0, connections: int = 32,
        rate: float = 1000.0, seed: int = 7, base_url: str = DEFAULT_PG,
        group_commit: bool = True, quick: bool = False,
        compare: bool | None = None, workers: int = 1) -> list[dict[str, Any]]:
    """Runs figure 1 and returns the harness's rows (see bench/run.py)."""
    city = city_mod.generate(size, seed)
    rows: list[dict[str, Any]] = []
    compare = not quick if compare is None else compare
    warmup = 0.2 if quick else 1.0
    with scratch_schema(base_url, prefix="bench") as url:
        tokens = prepare(url, city)
        with Server(url, group_commit=group_commit, workers=workers) as server:
            requests = whistle_requests(city, tokens)
            sat = drive(server.port, requests, connections, seconds, None, warmup)
            s = summary(sat)
            # The views follower folds the saturated phase's whistles before
            # the next phase, which would otherwise measure that backlog too.
            asyncio.run(wait_for_views(server.port, tokens["admin"], 2025, 120))
            # The target rate if the server can carry it; otherwise 80% of what
            # it carried saturated, so the latency shown is a sustainable one.
            offered = rate if s["per_second"] >= rate else 0.8 * s["per_second"]
            fixed = drive(server.port, requests, connections, seconds, offered, warmup)
            f = summary(fixed)
            rss = server.peak_rss_mb()
        floor = None
        if compare:
            with Server(url, app="bench.framework_floor:app") as server:
                floor_run = drive(server.port, floor_requests(requests), connections, seconds,
                                  None, warmup)
            floor = dict(summary(floor_run),
                         errors={k: v for k, v in floor_run["statuses"].items() if k >= 400})
        off = None
        if compare and group_commit:
            with Server(url, group_commit=False, workers=workers) as server:
                off = summary(drive(server.port, requests, connections, seconds, None, warmup))
        errors = {k: v for k, v in {**sat["statuses"]}.items() if k >= 400}
        errors_fixed = {k: v for k, v in fixed["statuses"].items() if k >= 400}
        n_events = min(max(2000, int(s["per_second"] * seconds)), 20_000 if not quick else 2000)
        events = whistle_events(city, n_events)
        bare = bare_append(url, events, threads=connections, seconds=seconds)
        batched = bare_batched(url, events)
        copied = copy_rows(url, events)
    gc = "group commit" if group_commit else "no group commit"

    def saturated(baseline: float, label: str, note: str) -> dict[str, Any]:
        """Our saturated rate beside one of its baselines."""
        return dict(figure="1 ingest: HTTP whistles/s, saturated", value=s["per_second"],
                    unit="/s", baseline=baseline, baseline_label=label, note=note)

    rows.append(saturated(bare["per_second"], "bare eventsourcing append, 1 event/save",
                          f"{connections} connections, {workers} API process"
                          f"{'es' if workers > 1 else ''}, {gc}; p50 {s['p50_ms']:.1f} ms, "
                          f"p99 {s['p99_ms']:.1f} ms; errors {errors or 'none'}"))
    if floor is not None:
        rows.append(saturated(floor["per_second"],
                              "same body, auth and response, no use case or store",
                              f"the API process's ceiling before any work "
                              f"(bench/framework_floor.py): p50 {floor['p50_ms']:.1f} ms, "
                              f"p99 {floor['p99_ms']:.1f} ms; errors "
                              f"{floor['errors'] or 'none'}"))
    if off is not None:
        rows.append(saturated(off["per_second"], "same server, GROUP_COMMIT=0",
                              f"without group commit: p50 {off['p50_ms']:.1f} ms, "
                              f"p99 {off['p99_ms']:.1f} ms"))
    rows.append(dict(figure=f"1 ingest: HTTP p99 at {offered:,.0f} whistles/s offered",
                     value=f["p99_ms"], unit="ms", baseline=50.0, baseline_label="target",
                     lower_is_better=True,
                     note=(f"the target rate {rate:,.0f}/s" if offered == rate else
                           f"80% of saturation (the target {rate:,.0f}/s is beyond it)")
                          + f", open loop, {f['per_second']:.0f}/s done; p50 "
                          f"{f['p50_ms']:.1f} ms; errors {errors_fixed or 'none'}"))
    rows.append(saturated(copied["per_second"], "psycopg COPY rows/s (5,000 a transaction)",
                          f"bare append batched 100/save: {batched['per_second']:.0f}/s"))
    rows.append(dict(figure="6 memory: serve peak RSS under ingest",
                     value=rss["api"] + rss["follow"], unit="MB", baseline=500.0,
                     baseline_label="target", lower_is_better=True,
                     note=f"API {rss['api']:.0f} MB + `redwhistle follow` {rss['follow']:.0f} MB"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="district")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--no-group-commit", action="store_true")
    parser.add_argument("--workers", type=int, default=1,
                        help="API processes of `redwhistle serve`")
    args = parser.parse_args(argv)
    from bench.run import print_table
    print_table(run(args.size, args.seconds, args.connections, args.rate,
                    group_commit=not args.no_group_commit, workers=args.workers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
