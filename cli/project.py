"""`redwhistle project --rebuild NAME|all`: rebuilds live views from zero."""
from __future__ import annotations

import argparse
import sys
import time

from cli.progress import Progress
from projections.feed import rebuild
from projections.registry import all_views
from service_layer.bootstrap import bootstrap


def add_parser(sub: argparse._SubParsersAction) -> None:
    project = sub.add_parser("project", help="rebuild read models from the event log")
    project.add_argument("--rebuild", required=True, metavar="NAME|all")
    project.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    views = all_views()
    names = [v.name for v in views]
    chosen = views if args.rebuild == "all" else [v for v in views if v.name == args.rebuild]
    if not chosen:
        print(f"redwhistle: unknown view {args.rebuild!r}; known: {', '.join(names)}, all",
              file=sys.stderr)
        return 2
    services = bootstrap()
    try:
        started = time.perf_counter()
        with Progress(total=services.app.recorder.max_notification_id(), unit="positions") as bar:
            # one read of the log feeds them all
            position = rebuild(services.log, chosen, progress=lambda p: bar("rebuild", p))
        print(f"{', '.join(v.name for v in chosen)}: rebuilt to position {position} "
              f"in {time.perf_counter() - started:.1f} s")
        return 0
    finally:
        services.close()
