"""`redwhistle serve [--host --port] [--demo] [--no-follow]`: the API, and
`redwhistle follow` (views, deadline watcher, sealer) as a child process."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from adapters.settings import export_for_workers
from service_layer.bootstrap import Services, bootstrap


def add_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true",
                       help="load a demo district into an empty store and print a token per role")
    serve.add_argument("--no-follow", action="store_true",
                       help="do not start `redwhistle follow` (run it as a service of its own)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="API processes (default 1); the views follow in one more")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"],
                       help="uvicorn's; below info there is no access log")
    serve.set_defaults(run=run)


def demo(services: Services) -> None:
    from service_layer.demo import load_demo
    if services.app.recorder.max_notification_id():
        print("The store already holds events: the demo district was not loaded again.")
    else:
        n = load_demo(services, services.governance.clock())
        print(f"Loaded the demo district: {n} compounds, position "
              f"{services.app.recorder.max_notification_id()}.")
    print("Demo tokens (shown once; use as 'Authorization: Bearer <token>'):")
    scopes = {"admin": {}, "official": {}, "grid_worker": {"street": "Xinjiekou"},
              "auditor": {}, "viewer": {}, "department": {"department": "fire"}}
    for role, scope in scopes.items():
        token = services.tokens.create(role=role, name=f"demo-{role}", **scope)
        shown = f" ({next(iter(scope.values()))})" if scope else ""
        print(f"  {role:<12}{shown:12} {token}")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from cli.follow import FollowProcess
    from projections.registry import all_views
    from projections.feed import create_view_tables
    if args.workers < 1:
        print("redwhistle: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        # Read by each worker's Settings (adapters/settings.py says why).
        export_for_workers(WRITE_CACHE_CHECK="1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    services = bootstrap()
    try:
        if args.demo:
            demo(services)
        create_view_tables(services.log, all_views())  # readers may come before the follower
    finally:
        services.close()
    # The follower is the serve process's child, not a worker's: one for all.
    follower = None if args.no_follow else FollowProcess()
    if follower:
        follower.start()
    # uvicorn raises the signal that stopped it again once it has shut down;
    # as SystemExit it lets the `finally` below stop the follower in order.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print(f"Serving on http://{args.host}:{args.port} (docs at /docs)", flush=True)
        uvicorn.run("api.app:app_from_env", factory=True, workers=args.workers,
                    host=args.host, port=args.port, log_level=args.log_level)
        return 0
    finally:
        if follower:
            follower.stop()
