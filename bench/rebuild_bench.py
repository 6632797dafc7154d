"""Issue 14's rebuild figure: does the issues view keep the full rebuild of
every view at the rate it had without it?

Rebuilds, from the same stored log, all views and all views but `issues`
into scratch tables, alternately (ABBA rounds, so a drift of the shared
machine weighs on both), each in a fresh process that reports its time and
its own peak RSS; prints both rates per round, their medians and the ratio.
With `--before DIR` the same rounds also run the code of another tree (e.g.
`git archive main | tar -x -C DIR`): the figure the issue asks for is all
views now beside all views but issues before. With `--processes N` each
rebuild is shared among N processes (`rebuild(processes=N)`, as `redwhistle
project --rebuild` does); a tree whose rebuild cannot, runs in one.

    python -m bench.rebuild_bench --events 50000 --rounds 3          # SQLite, then PostgreSQL
    python -m bench.rebuild_bench --engine sqlite --url sqlite:////tmp/log.sqlite   # kept, reused
    python -m bench.rebuild_bench --before /tmp/base --postgres-url postgresql://…/bench_x

A store given by `--url` is loaded once (if empty) and kept; otherwise a
temporary SQLite file or a PostgreSQL schema is loaded and dropped.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Run in the child, against whichever tree is on its path: only names every
# version of the feed since issue 12 has.
CHILD = """
import inspect, json, resource, sys, time
from projections.feed import drop, rebuild
from projections.registry import all_views
from service_layer.bootstrap import bootstrap
from adapters.settings import Settings
url, mode, processes = sys.argv[1], sys.argv[2], int(sys.argv[3])
services = bootstrap(Settings(database_url=url))
views = [v for v in all_views() if mode == "all" or v.name != "issues"]
shared = "processes" in inspect.signature(rebuild).parameters  # (since 5 December)
db = services.db
table = db.table(services.app.recorder.events_table_name)
events = db.fetchall(f"SELECT COUNT(*) FROM {table}")[0][0]
started, cpu = time.perf_counter(), time.process_time()
try:
    rebuild(services.log, views, "rb_", **({"processes": processes} if shared else {}))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
finally:
    for view in views:
        drop(services.log, view, "rb_")
    services.close()
own, theirs = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps(dict(events=events, seconds=seconds, processes=processes if shared else 1,
                      cpu=cpu + theirs.ru_utime + theirs.ru_stime,
                      rss_mb=(own.ru_maxrss + theirs.ru_maxrss) / 1024)))
"""

MODES = {"but issues": "but_issues", "all": "all"}


def child(url: str, mode: str, tree: str | None, processes: int) -> dict[str, float]:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree  # ahead of the editable install of this tree
    out = subprocess.run([sys.executable, "-c", CHILD, url, mode, str(processes)],
                         capture_output=True, text=True, env=env, cwd=tree or None,
                         timeout=7200)
    if out.returncode:
        raise RuntimeError(f"rebuild ({mode}, {tree or 'this tree'}) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextmanager
def store(engine: str, url: str | None, postgres_url: str) -> Iterator[str]:
    if url:
        yield url
        return
    from bench.replay_bench import store as replay_store
    with replay_store(postgres_url if engine == "postgres" else None, keep=False) as made:
        yield made


def load(url: str, events: int, seed: int) -> int:
    from bench.replay_bench import load_city
    from service_layer.bootstrap import bootstrap
    from adapters.settings import Settings
    services = bootstrap(Settings(database_url=url))
    try:
        if not services.app.recorder.max_notification_id():
            print(f"loading a city of about {events:,} events into {url} ...", file=sys.stderr)
            load_city(services, events, seed)
        db = services.db
        return db.fetchall(f"SELECT COUNT(*) FROM "
                           f"{db.table(services.app.recorder.events_table_name)}")[0][0]
    finally:
        services.close()


def measure(url: str, rounds: int, trees: dict[str, str | None],
            processes: int) -> list[dict[str, Any]]:
    """One row per (code, mode, round)."""
    out = []
    for r in range(rounds):
        order = list(MODES.items()) if r % 2 == 0 else list(MODES.items())[::-1]
        for code, tree in trees.items():
            for label, mode in order:
                got = child(url, mode, tree, processes)
                got.update(code=code, mode=label, round=r, load=os.getloadavg()[0],
                           rate=got["events"] / got["seconds"])
                print(f"  {code:<6} {label:<10} round {r}: {got['rate']:>8,.0f} events/s "
                      f"({got['seconds']:.2f} s in {got['processes']} process(es), "
                      f"CPU {got['cpu']:.2f} s, {got['rss_mb']:.0f} MB, "
                      f"load {got['load']:.1f})", file=sys.stderr)
                out.append(got)
    return out


def summary(engine: str, runs: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: per code, the median rate of each mode and all / but issues."""
    lines = []
    codes = list(dict.fromkeys(r["code"] for r in runs))
    of = {(c, m): [r for r in runs if (r["code"], r["mode"]) == (c, m)]
          for c in codes for m in MODES}
    med = {k: statistics.median(r["rate"] for r in rs) for k, rs in of.items()}
    rss = {k: max(r["rss_mb"] for r in rs) for k, rs in of.items()}
    each = {k: ", ".join(f"{r['rate']:,.0f}" for r in rs) for k, rs in of.items()}
    cpu = {k: statistics.median(r["cpu"] for r in rs) for k, rs in of.items()}
    for c in codes:
        lines.append(f"| {engine} | {c} "
                     f"| {med[(c, 'but issues')]:,.0f} ({each[(c, 'but issues')]}) "
                     f"| {med[(c, 'all')]:,.0f} ({each[(c, 'all')]}) "
                     f"| {med[(c, 'all')] / med[(c, 'but issues')]:.2f} "
                     f"| {cpu[(c, 'but issues')] / cpu[(c, 'all')]:.2f} "
                     f"| {rss[(c, 'but issues')]:.0f} / {rss[(c, 'all')]:.0f} MB |")
    if "before" in codes and "now" in codes:
        lines.append(f"| {engine} | all now / but issues before | | | "
                     f"{med[('now', 'all')] / med[('before', 'but issues')]:.2f} | "
                     f"{cpu[('before', 'but issues')] / cpu[('now', 'all')]:.2f} | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--url", help="a store to use (and load if empty), kept; one engine")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--before", metavar="DIR", help="also run the code of this tree")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=1,
                        help="share each rebuild among N processes (a tree whose rebuild "
                             "cannot runs one)")
    args = parser.parse_args(argv)
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    if args.url:
        engines = ["postgres" if args.url.startswith("postgres") else "sqlite"]
    trees: dict[str, str | None] = {"now": None}
    if args.before:
        trees = {"before": str(Path(args.before).resolve()), "now": None}
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load_before = os.getloadavg()[0]
    lines = []
    for engine in engines:
        with store(engine, args.url, args.postgres_url) as url:
            events = load(url, args.events, args.seed)
            print(f"{engine}: {events:,} events", file=sys.stderr)
            lines += summary(f"{engine}, {events:,} events", measure(url, args.rounds, trees, args.processes))
    print(f"`python -m bench.rebuild_bench {' '.join(argv if argv is not None else sys.argv[1:])}`"
          f" on {started}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print()
    print("| store | code | all views but issues, events/s (each round) "
          "| all views, events/s (each round) | all / but issues (wall) "
          "| same, by CPU of the rebuilding processes | peak RSS, summed over processes "
          "(but issues / all) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
