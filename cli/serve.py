"""`redwhistle serve [--host --port] [--demo]`: the API with its background
parts (the views following the log, the deadline watcher...)."""
from __future__ import annotations

import argparse
import logging

from service_layer.bootstrap import Services, bootstrap


def add_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true",
                       help="load a demo district into an empty store and print a token per role")
    serve.set_defaults(run=run)


def background_workers(services: Services) -> list:
    from projections.chain import Sealer
    from projections.deadline_watcher import DeadlineWatcher
    from projections.registry import all_views
    from projections.runner import ViewsFollower
    follower = ViewsFollower(services, all_views())  # creates the tables the others read
    services.extras["follower"] = follower
    return [follower, DeadlineWatcher(services), Sealer(services, every_events=1000,
                                                        every_seconds=60)]


def demo(services: Services) -> None:
    from service_layer.demo import load_demo
    if services.app.recorder.max_notification_id():
        print("The store already holds events: the demo district was not loaded again.")
    else:
        n = load_demo(services, services.governance.clock())
        print(f"Loaded the demo district: {n} compounds, position "
              f"{services.app.recorder.max_notification_id()}.")
    print("Demo tokens (shown once; use as 'Authorization: Bearer <token>'):")
    scopes = {"admin": {}, "official": {}, "grid_worker": {}, "auditor": {}, "viewer": {},
              "department": {"department": "fire"}}
    for role, scope in scopes.items():
        token = services.tokens.create(role=role, name=f"demo-{role}", **scope)
        print(f"  {role:<12}{' (fire)' if scope else '':8} {token}")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    services = bootstrap()
    try:
        if args.demo:
            demo(services)
        print(f"Serving on http://{args.host}:{args.port} (docs at /docs)", flush=True)
        uvicorn.run(create_app(services, workers=background_workers(services)),
                    host=args.host, port=args.port, log_level="info")
        return 0
    finally:
        services.close()
