"""`redwhistle token create`: prints a new bearer token once."""
from __future__ import annotations

import argparse
import sys

from service_layer.bootstrap import bootstrap
from service_layer.tokens import ROLES


def add_parser(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser("token", help="manage API tokens")
    actions = token.add_subparsers(dest="action", required=True, parser_class=type(token))
    create = actions.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True)
    create.add_argument("--department")
    create.add_argument("--street")
    create.add_argument("--grids", default="", help="comma-separated grids a grid worker covers")
    create.set_defaults(run=run_create)


def run_create(args: argparse.Namespace) -> int:
    services = bootstrap()
    try:
        if args.role == "department" and args.department not in services.settings.departments:
            print(f"redwhistle: --department must be one of "
                  f"{', '.join(services.settings.departments)}", file=sys.stderr)
            return 2
        grids = tuple(g for g in args.grids.split(",") if g)
        print(services.tokens.create(role=args.role, name=args.name, department=args.department,
                                     street=args.street, grids=grids))
        return 0
    finally:
        services.close()
