"""`redwhistle project --rebuild NAME|all`: rebuilds live views from zero."""
from __future__ import annotations

import argparse
import os
import sys
import time

from cli.progress import Progress
from projections.feed import rebuild
from projections.registry import all_views
from service_layer.bootstrap import bootstrap


def add_parser(sub: argparse._SubParsersAction) -> None:
    project = sub.add_parser("project", help="rebuild read models from the event log")
    project.add_argument("--rebuild", required=True, metavar="NAME|all")
    project.add_argument("--processes", type=_processes, default=len(os.sched_getaffinity(0)),
                         metavar="N", help="share the views among N processes "
                         "(default: this machine's cores)")
    project.set_defaults(run=run)


def _processes(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 64, not {text!r}")
    return int(text)


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
            position = rebuild(services.log, chosen, progress=lambda p: bar("rebuild", p),
                               processes=args.processes)
        print(f"{', '.join(v.name for v in chosen)}: rebuilt to position {position} "
              f"in {time.perf_counter() - started:.1f} s")
        return 0
    finally:
        services.close()
