"""Figure 4 at scale: the read endpoints on a city of a million events, or ten.

1. A scratch PostgreSQL schema gets a whole city (`bench.city`, bulk loaded;
   `--size city` is about 1M events, `megacity` about 10M) and tokens.
2. `redwhistle project --rebuild all` builds the views, beside a process
   that only reads the log (figure 3 at this size, `mixed_bench.rebuild_rows`).
3. `redwhistle serve --no-follow` (the views are complete; nothing is
   written meanwhile) is asked each read endpoint `probes` times, one at a
   time on one keep-alive connection: the dashboard by every key over a
   month, a year and two years, a compound's and a community's agenda, and
   the rankings. p50/p99 of each, beside `GET /health` on the same
   connection (the HTTP floor) and, for the dashboard, the 100 ms target.

    python -m bench.scale_bench --size city --probes 30

A megacity takes half an hour to load: `--url` probes one loaded before (by
`python -m bench.city --size megacity --load` into that DATABASE_URL, same
size and seed) and keeps it; `--no-rebuild` then also reuses its views.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

from bench import city as city_mod
from bench.ingest_bench import DEFAULT_PG, Request, Server, make_tokens, percentile
from bench.mixed_bench import _probe, rebuild_rows
from adapters.db import scratch_schema


def read_requests(city: city_mod.City, viewer: str) -> list[Request]:
    y = city.year
    spans = {"a month": f"from={y}-06-01&to={y}-07-01",
             "12 months": f"from={y}-01-01&to={y + 1}-01-01",
             "2 years": f"from={y}-01-01&to={y + 2}-01-01"}
    out = [Request("GET", "/health", None, viewer, "GET /health")]
    for by in ("department", "street", "community", "compound"):
        for name, span in spans.items():
            out.append(Request("GET", f"/v1/dashboard/response-rates?{span}&by={by}", None,
                               viewer, f"GET dashboard by {by}, {name}"))
    meeting = f"meeting_on={y}-12-20"
    out += [Request("GET", f"/v1/compounds/{city.compounds[0].code}/agenda?{meeting}", None,
                    viewer, "GET compound agenda"),
            Request("GET", f"/v1/communities/{city.communities[0]}/agenda?{meeting}", None,
                    viewer, "GET community agenda"),
            Request("GET", f"/v1/rankings/{y}", None, viewer, "GET rankings")]
    return out


def run(size: str | int = "city", probes: int = 30, seed: int = 7,
        base_url: str = DEFAULT_PG, quick: bool = False, url: str | None = None,
        rebuild: bool = True) -> list[dict[str, Any]]:
    """`url`: a store already holding this city (kept); otherwise a scratch
    schema is loaded and dropped."""
    from service_layer.bootstrap import bootstrap
    from adapters.settings import Settings
    city = city_mod.generate(size, seed)
    probes = min(probes, 3) if quick else probes
    with contextlib.nullcontext(url) if url else scratch_schema(base_url, prefix="bench") as url:
        services = bootstrap(Settings(database_url=url))
        try:
            stored = services.app.recorder.max_notification_id()
            loaded = dict(events=stored) if stored else city_mod.load(services, city)
            viewer = make_tokens(services, city)["viewer"]
        finally:
            services.close()
        rows = rebuild_rows(url) if rebuild else []
        with Server(url, follow=False) as server:
            requests = read_requests(city, viewer)
            asyncio.run(_probe(server.port, requests, 1 if quick else 3))  # warm-up
            timings = asyncio.run(_probe(server.port, requests, probes))
    errors = {k: len(v) for k, v in timings.items() if k.endswith("errors")}
    if errors:
        raise RuntimeError(f"read endpoints failed: {errors}")
    events = int(loaded["events"])
    floor = timings["GET /health"]
    scale = f"{events:,} events, {len(city.compounds):,} compounds"
    for label, seconds in timings.items():
        if label == "GET /health":
            continue
        p99, p50 = percentile(seconds, 99) * 1000, percentile(seconds, 50) * 1000
        dashboard = "dashboard" in label
        rows.append(dict(
            figure=f"4 {label} ({scale})", value=p99, unit="ms", lower_is_better=True,
            baseline=100.0 if dashboard else percentile(floor, 99) * 1000,
            baseline_label="target p99" if dashboard else "p99 GET /health, same connection",
            note=f"p50 {p50:.1f} ms; n={len(seconds)}; one request at a time"))
    if "seconds" in loaded:
        rows.append(dict(figure=f"city bulk load ({scale})", value=loaded["events_per_second"],
                         unit="events/s", note=f"{loaded['seconds']:.0f} s"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="city")
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--url", help="a DATABASE_URL holding this city already (kept)")
    parser.add_argument("--no-rebuild", action="store_true",
                        help="with --url: its views are built; only probe")
    args = parser.parse_args(argv)
    from bench.run import print_table
    t0 = time.perf_counter()
    print_table(run(args.size, args.probes, url=args.url, rebuild=not args.no_rebuild))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
