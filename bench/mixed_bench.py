"""Figure 2, mixed load: grid workers and departments at a steady rate, with
one dashboard reader, on a city that already holds a year of history.

1. A scratch PostgreSQL schema gets the city's year (`bench.city`, bulk
   loaded) and tokens; the API starts as `redwhistle serve` runs it (views
   follower included, access log off) and the views catch up.
2. Unloaded: each read endpoint is timed alone (`probes` requests each), and
   so are the first writes: the baseline of each endpoint.
3. Loaded for `seconds`: the next year's commands of `grid_workers` grid
   workers (whistles, ratings) and of every department (report-in, progress,
   resolution), in their time order, are sent at `gw_rate` requests/s per
   grid worker and `dept_rate` per department (open loop: latency counts from
   when a request was due; a request waits for the one before it on the same
   issue). One reader meanwhile asks in turn for the dashboard (by
   department, by street), a community's agenda and the rankings, with
   `think` seconds between requests.

Each endpoint's p99 under load is reported beside its unloaded p99.

4. Then, on the same store, `redwhistle project --rebuild all` in a
   subprocess (figure 3: events/s, and figure 6: its peak RSS) beside a
   subprocess that only reads and decodes the whole log the same way
   (`projections.feed.read_log`).

    python -m bench.mixed_bench --size district --seconds 20
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
from typing import Any

from bench import city as city_mod
from bench.ingest_bench import (DEFAULT_PG, Request, Server, _exchange, percentile, prepare,
                                wait_for_views)
from adapters.db import scratch_schema

LIVE_OPS = {"blow_whistle": "POST whistles", "rate": "POST ratings",
            "report_in": "POST reports", "note_progress": "POST progress",
            "resolve": "POST resolution"}


def live_requests(city: city_mod.City, tokens: dict[str, str],
                  grid_workers: int) -> list[tuple[str | None, Request]]:
    """The next year's commands of the first `grid_workers` grid workers'
    compounds, as (issue id, request) in time order, without `at` (the
    server's clock is the time of record)."""
    chosen = set(city.grid_workers[:grid_workers])
    compounds = [s for s in city.compounds if s.grid_worker in chosen]
    out = []
    for cmd in city.year_commands(compounds, companies=False):
        if cmd.op not in LIVE_OPS:
            continue
        method, path, body = city_mod.http(cmd)  # type: ignore[misc]
        body.pop("at", None)
        issue = cmd.kwargs.get("issue_id") if cmd.op == "blow_whistle" else cmd.args[1]
        out.append((issue, Request(method, path, body, tokens[cmd.actor], LIVE_OPS[cmd.op])))
    return out


def read_requests(city: city_mod.City, tokens: dict[str, str]) -> list[Request]:
    year = city.year
    span = f"from={year}-01-01&to={year + 2}-01-01"
    viewer = tokens["viewer"]
    community = city.communities[0]
    return [
        Request("GET", f"/v1/dashboard/response-rates?{span}&by=department", None, viewer,
                "GET dashboard by department"),
        Request("GET", f"/v1/dashboard/response-rates?{span}&by=street", None, viewer,
                "GET dashboard by street"),
        Request("GET", f"/v1/communities/{community}/agenda?meeting_on={year}-12-20", None,
                viewer, "GET community agenda"),
        Request("GET", f"/v1/compounds/{city.compounds[0].code}/agenda?meeting_on={year}-12-20",
                None, viewer, "GET compound agenda"),
        Request("GET", f"/v1/rankings/{year}", None, viewer, "GET rankings"),
    ]


async def _connect(port: int):
    return await asyncio.open_connection("127.0.0.1", port)


async def _probe(port: int, requests: list[Request], times: int) -> dict[str, list[float]]:
    reader, writer = await _connect(port)
    out: dict[str, list[float]] = {}
    try:
        for _ in range(times):
            for r in requests:
                t = time.perf_counter()
                status = await _exchange(reader, writer, r.data)
                out.setdefault(r.label, []).append(time.perf_counter() - t)
                if status >= 400:
                    out.setdefault(f"{r.label} errors", []).append(status)
    finally:
        writer.close()
    return out


async def _mixed(port: int, live: list[tuple[str | None, Request]], reads: list[Request],
                 rate: float, seconds: float, think: float) -> dict[str, Any]:
    start = time.perf_counter()
    stop = start + seconds
    latencies: dict[str, list[float]] = {}
    errors: dict[str, dict[int, int]] = {}
    last_on_issue: dict[str, asyncio.Event] = {}
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(await _connect(port))

    def record(label: str, status: int, seconds_: float) -> None:
        latencies.setdefault(label, []).append(seconds_)
        if status >= 400:
            errors.setdefault(label, {}).setdefault(status, 0)
            errors[label][status] += 1

    async def send(issue: str | None, request: Request, due: float,
                   before: asyncio.Event | None, mine: asyncio.Event) -> None:
        try:
            if before is not None:
                await before.wait()
            reader, writer = await pool.get()
            try:
                status = await _exchange(reader, writer, request.data)
            finally:
                pool.put_nowait((reader, writer))
            record(request.label, status, time.perf_counter() - due)
        finally:
            mine.set()

    async def writers() -> int:
        tasks = []
        for i, (issue, request) in enumerate(live):
            due = start + i / rate
            if due >= stop:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            mine = asyncio.Event()
            before = last_on_issue.get(issue) if issue else None
            if issue:
                last_on_issue[issue] = mine
            tasks.append(asyncio.create_task(send(issue, request, due, before, mine)))
        await asyncio.gather(*tasks)
        return len(tasks)

    async def reader_loop() -> None:
        reader, writer = await _connect(port)
        try:
            for request in itertools.cycle(reads):
                if time.perf_counter() >= stop:
                    return
                t = time.perf_counter()
                status = await _exchange(reader, writer, request.data)
                record(request.label, status, time.perf_counter() - t)
                await asyncio.sleep(think)
        finally:
            writer.close()

    sent, _ = await asyncio.gather(writers(), reader_loop())
    while not pool.empty():
        _, w = pool.get_nowait()
        w.close()
    return dict(latencies=latencies, errors=errors, sent=sent,
                seconds=time.perf_counter() - start)


def _timed_subprocess(args: list[str], url: str) -> tuple[float, float, str]:
    """Runs a command on DATABASE_URL=url; (seconds, peak RSS in MB, stdout)."""
    env = dict(os.environ, DATABASE_URL=url)
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out, err = proc.communicate(timeout=7200)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args[2:])} exited {proc.returncode}: {err.decode()[-500:]}")
    rss = float(out.decode().rsplit("peak_rss_mb=", 1)[1].split()[0]) \
        if b"peak_rss_mb=" in out else float("nan")
    return seconds, rss, out.decode()


def read_log_only() -> None:
    """Reads and decodes the whole log as a view's feed does, applying nothing."""
    from projections.feed import read_log
    from service_layer.bootstrap import bootstrap
    services = bootstrap()
    n = 0
    try:
        for batch in read_log(services.log, 0, 1000):
            n += len(batch)
    finally:
        services.close()
    print(f"events={n}")
    _print_rss()


def rebuild_all() -> None:
    """`redwhistle project --rebuild all`, then its own peak RSS."""
    from cli.main import main as cli
    code = cli(["project", "--rebuild", "all"])
    _print_rss()
    raise SystemExit(code)


def _print_rss() -> None:
    # VmHWM, not getrusage's ru_maxrss: on Linux the latter keeps the peak of
    # the parent that forked this process, so a big harness would show here.
    from bench.ingest_bench import peak_rss_mb
    print(f"peak_rss_mb={peak_rss_mb(os.getpid()):.1f}")


def rebuild_rows(url: str) -> list[dict[str, Any]]:
    read_s, read_rss, out = _timed_subprocess(
        [sys.executable, "-m", "bench.mixed_bench", "--read-log"], url)
    events = int(out.split("events=")[1].split()[0])
    build_s, build_rss, build_out = _timed_subprocess(
        [sys.executable, "-m", "bench.mixed_bench", "--rebuild-all"], url)
    return [
        dict(figure="3 rebuild all views: events/s", value=events / build_s, unit="/s",
             baseline=events / read_s, baseline_label="reading + decoding the log alone",
             note=f"{events:,} events; `redwhistle project --rebuild all` {build_s:.1f} s, "
                  f"read alone {read_s:.1f} s (process start included); per view: "
                  + "; ".join(ln.replace(": rebuilt to position", " to")
                              for ln in build_out.splitlines() if "rebuilt" in ln)),
        dict(figure="6 memory: full rebuild peak RSS", value=build_rss, unit="MB",
             baseline=read_rss, baseline_label="reading the log alone", lower_is_better=True,
             note=f"{events:,} events"),
    ]


def run(size: str | int = "district", seconds: float = 20.0, seed: int = 7,
        grid_workers: int = 20, gw_rate: float = 0.5, dept_rate: float = 1.0,
        think: float = 0.2, probes: int = 20, quick: bool = False, rebuild: bool = True,
        base_url: str = DEFAULT_PG) -> list[dict[str, Any]]:
    """Figure 2's rows for bench/run.py."""
    if quick:
        probes = min(probes, 5)
    history = city_mod.generate(size, seed, year=2025)
    live_city = city_mod.generate(size, seed, year=2026)
    rate = grid_workers * gw_rate + len(history.departments) * dept_rate
    with scratch_schema(base_url) as url:
        t0 = time.perf_counter()
        tokens = prepare(url, history, history=True)
        load_seconds = time.perf_counter() - t0
        live = live_requests(live_city, tokens, grid_workers)
        reads = read_requests(history, tokens)
        with Server(url) as server:
            catch_up = asyncio.run(wait_for_views(server.port, tokens["admin"], 2025,
                                                   timeout=1800))
            idle = asyncio.run(_probe(server.port, reads, probes))
            # the first few live writes, one at a time, are the writes' baseline
            first = live[:probes * 2]
            idle_writes = asyncio.run(_probe(server.port, [r for _, r in first], 1))
            result = asyncio.run(_mixed(server.port, live[len(first):], reads, rate,
                                        seconds, think))
            rss = server.peak_rss_mb()
        rebuilt = rebuild_rows(url) if rebuild else []
    idle.update(idle_writes)
    rows = []
    labels = sorted(result["latencies"], key=lambda k: (not k.startswith("POST"), k))
    for label in labels:
        loaded = result["latencies"][label]
        base = idle.get(label, [])
        errors = result["errors"].get(label)
        rows.append(dict(
            figure=f"2 mixed: {label} p99", value=percentile(loaded, 99) * 1000, unit="ms",
            baseline=percentile(base, 99) * 1000 if base else None,
            baseline_label="same endpoint unloaded", lower_is_better=True,
            note=f"n={len(loaded)}, p50 {percentile(loaded, 50) * 1000:.1f} ms"
                 + (f"; errors {errors}" if errors else "")))
    rows.append(dict(
        figure="2 mixed: offered load", value=result["sent"] / seconds, unit="req/s",
        note=f"{grid_workers} grid workers × {gw_rate}/s + {len(history.departments)} "
             f"departments × {dept_rate}/s, 1 reader (think {think}s); history "
             f"{len(history.compounds)} compounds loaded in {load_seconds:.0f} s, views "
             f"caught up in {catch_up:.0f} s; serve peak RSS {rss['api']:.0f} MB (API) + "
             f"{rss['follow']:.0f} MB (follow)"))
    return rows + rebuilt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mixed_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="district")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--grid-workers", type=int, default=20)
    parser.add_argument("--gw-rate", type=float, default=0.5)
    parser.add_argument("--dept-rate", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--read-log", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rebuild-all", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.read_log:
        read_log_only()
        return 0
    if args.rebuild_all:
        rebuild_all()
    from bench.run import print_table
    print_table(run(args.size, args.seconds, grid_workers=args.grid_workers,
                    gw_rate=args.gw_rate, dept_rate=args.dept_rate, quick=args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
