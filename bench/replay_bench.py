"""How fast can an auditor replay history? Rebuilds every registered view from
the log into scratch tables and reports events/s, beside the rate of merely
reading the same log (decoded, as a rebuild reads it, and raw) and of
recomputing the hash chain, all in the same run on the same store.

The log is a synthetic city (bench/city.py: whistles, reports, resolutions,
ratings, meetings, elections, surveys, evaluations in the papers' mix),
loaded with many events per transaction. --events picks the size; the
default is a quick run, the figure quoted in docs/audit.md used 1,000,000.

    python -m bench.replay_bench                       # ~20k events, SQLite
    python -m bench.replay_bench --events 1000000
    python -m bench.replay_bench --events 1000000 \
        --database-url postgresql://postgres@127.0.0.1/test
    python -m bench.replay_bench --database-url sqlite:///var/big.sqlite --keep   # reuse next time

With a PostgreSQL URL, a fresh schema is made for the run and dropped after
(unless --keep, which prints the URL to reuse). An existing non-empty store
is measured as it is, without loading.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EVENTS_PER_COMPOUND = 330  # a city year: about 1,000,000 events for 3,000 compounds


@contextmanager
def store(url: str | None, keep: bool) -> Iterator[str]:
    if url and url.startswith("postgres"):
        from adapters.db import scratch_schema
        with scratch_schema(url, prefix="replay", keep=keep) as scratch:
            if keep:
                print(f"kept: DATABASE_URL={scratch}", file=sys.stderr)
            yield scratch
        return
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'replay.sqlite'}"


def rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else 0.0


def load_city(services: Any, events: int, seed: int) -> dict[str, float]:
    """Runs the city's commands through the real use cases, events written
    in large transactions (bench.city.BulkLoader). A command the domain
    refuses is skipped and counted: the replay needs a log, not a perfect year."""
    from bench import city
    from domain.exceptions import DomainError
    compounds = max(2, round(events / EVENTS_PER_COMPOUND))
    town = city.generate(compounds, seed=seed)
    loader = city.BulkLoader(services)
    skipped = 0
    t0 = time.perf_counter()
    for command in town.commands():
        try:
            city.apply(loader.governance, command)
        except DomainError:
            skipped += 1
            continue
        loader.commands += 1
        if loader.pending >= loader.flush_events:
            loader.flush()
    loader.flush()
    seconds = time.perf_counter() - t0
    return dict(events=loader.events, commands=loader.commands, skipped=skipped,
                seconds=seconds, events_per_second=rate(loader.events, seconds))


def read_decoded(services: Any, batch: int = 1000) -> tuple[int, float]:
    from projections.feed import read_log
    t0, n = time.perf_counter(), 0
    for got in read_log(services.log, 0, batch):
        n += len(got)
    return n, time.perf_counter() - t0


def read_raw(services: Any, batch: int = 1000) -> tuple[int, float]:
    from audit.chain import read_raw as raw
    t0, n = time.perf_counter(), 0
    for got in raw(services.log, 0, batch=batch):
        n += len(got)
    return n, time.perf_counter() - t0


def chain(services: Any) -> tuple[int, float]:
    c = services.chain
    services.db.execute(f"DELETE FROM {c.chain}")
    t0 = time.perf_counter()
    n = c.advance().count
    return n, time.perf_counter() - t0


def replay(services: Any, names: list[str] | None) -> dict[str, tuple[int, float]]:
    """Each view rebuilt on its own (projections.feed.rebuild), then all of
    them in one pass over the log (projections.feed.rebuild, what the
    auditors' replay and as_of queries run)."""
    from projections.feed import drop, rebuild
    from audit.replay import scratch_prefix, views_named
    views = views_named(names)
    out = {}
    for view in views:
        prefix = scratch_prefix()
        try:
            t0 = time.perf_counter()
            rebuild(services.log, view, prefix)
            out[view.name] = (services.app.recorder.max_notification_id() or 0,
                              time.perf_counter() - t0)
        finally:
            drop(services.log, view, prefix)
    prefix = scratch_prefix()
    try:
        t0 = time.perf_counter()
        rebuild(services.log, views, prefix)
        out["*"] = (0, time.perf_counter() - t0)
    finally:
        for view in views:
            drop(services.log, view, prefix)
    return out


def measure(database_url: str | None, events: int, seed: int, names: list[str] | None,
            keep: bool = False) -> dict[str, Any]:
    """Loads a city of about `events` events (unless the store has one) and
    measures reading, hashing and replaying it, all in this one run."""
    from service_layer.bootstrap import bootstrap
    from adapters.settings import Settings
    with store(database_url, keep) as url:
        services = bootstrap(Settings(database_url=url))
        try:
            engine = "postgresql" if services.db.is_postgres else "sqlite"
            existing = services.app.recorder.max_notification_id() or 0
            loaded: dict[str, float] = {}
            if not existing:
                print(f"generating a log of about {events:,} events on {engine} ...",
                      file=sys.stderr)
                loaded = load_city(services, events, seed)
                print(file=sys.stderr)
            total = services.app.recorder.max_notification_id() or 0
            decoded = read_decoded(services)
            raw = read_raw(services)
            hashed = chain(services)
            views = replay(services, names)
        finally:
            services.close()
    together = views.pop("*")[1]
    one_by_one = sum(s for _, s in views.values())
    figures = {
        "engine": engine, "events": decoded[0], "last_position": total,
        "load_events_per_s": round(loaded.get("events_per_second", 0.0)),
        "load_commands_skipped": int(loaded.get("skipped", 0)),
        "read_decoded_events_per_s": round(rate(*decoded)),
        "read_raw_events_per_s": round(rate(*raw)),
        "chain_events_per_s": round(rate(*hashed)),
        "replay_all_views_one_pass_events_per_s": round(rate(decoded[0], together)),
        "replay_all_views_one_pass_seconds": round(together, 2),
        "replay_all_views_one_by_one_events_per_s": round(rate(decoded[0], one_by_one)),
        "views": {name: {"events_per_s": round(rate(decoded[0], s)), "seconds": round(s, 2)}
                  for name, (_, s) in views.items()},
    }
    return figures


SIZES = {"tiny": 20_000, "district": 107_000, "city": 1_000_000, "megacity": 10_000_000}


def run(size: str = "district", quick: bool = False, seed: int = 7, **_: object) -> list[dict]:
    """Rows for bench/run.py: figure 3, replaying all views on PostgreSQL
    beside merely reading the same log, in the same run."""
    from bench.ingest_bench import DEFAULT_PG
    events = 20_000 if quick else SIZES.get(str(size), 107_000)
    f = measure(DEFAULT_PG, events, seed, None)
    note = f"{f['events']:,} events on {f['engine']}; one pass over the log feeds every view"
    return [dict(figure="3 rebuild all views (replay): events/s",
                 value=f["replay_all_views_one_pass_events_per_s"], unit="/s",
                 baseline=f["read_decoded_events_per_s"],
                 baseline_label="reading + decoding the log alone", note=note),
            dict(figure="3 hash chain recomputed: events/s", value=f["chain_events_per_s"],
                 unit="/s", baseline=f["read_raw_events_per_s"],
                 baseline_label="reading the raw rows alone", note=note)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000,
                        help="size of the log to generate (default 20,000)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--view", default="all", help="view name(s), comma-separated, or all")
    parser.add_argument("--seed", type=int, default=7, help="the synthetic city's seed")
    parser.add_argument("--keep", action="store_true", help="keep the store for another run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    names = None if args.view == "all" else args.view.split(",")

    figures = measure(args.database_url, args.events, args.seed, names, args.keep)
    views = figures["views"]
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"log: {figures['events']:,} events on {figures['engine']}"
          + (f" (loaded at {figures['load_events_per_s']:,} events/s)"
             if figures["load_events_per_s"] else ""))
    print(f"  read, decoded (as a rebuild reads)  {figures['read_decoded_events_per_s']:>10,} "
          "events/s")
    print(f"  read, raw rows                      {figures['read_raw_events_per_s']:>10,} events/s")
    print(f"  hash chain (canonical JSON+SHA-256) {figures['chain_events_per_s']:>10,} events/s")
    for name, f in figures["views"].items():
        print(f"  replay view {name:<24}{f['events_per_s']:>10,} events/s  ({f['seconds']} s)")
    print(f"  replay all {len(views)} views, one after another "
          f"{figures['replay_all_views_one_by_one_events_per_s']:>7,} events/s")
    print(f"  replay all {len(views)} views in one pass       "
          f"{figures['replay_all_views_one_pass_events_per_s']:>7,} events/s  "
          f"({figures['replay_all_views_one_pass_seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
