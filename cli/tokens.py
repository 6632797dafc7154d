"""`redwhistle token create`: prints a new bearer token once."""
from __future__ import annotations

import argparse
import sys

from service_layer.bootstrap import bootstrap
from service_layer.limits import check_name
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


def _refused(args: argparse.Namespace) -> str | None:
    """What is wrong with the names to be stored, as the API's bounds say."""
    grids = args.grids.split(",") if args.grids else []
    named = [("--name", args.name), ("--street", args.street),
             ("--department", args.department)] + [("--grids", g) for g in grids]
    for option, value in named:
        if value is None:
            continue
        if not 1 <= len(value) <= 200:
            return f"{option} must be 1 to 200 characters" + (
                " (an empty grid between commas?)" if option == "--grids" else "")
        try:
            check_name(value)
        except ValueError as exc:
            return f"{option} {exc}"
    return None


def run_create(args: argparse.Namespace) -> int:
    refused = _refused(args)
    if refused:
        print(f"redwhistle: {refused}", file=sys.stderr)
        return 2
    services = bootstrap()
    try:
        if args.role == "department" and args.department not in services.settings.departments:
            print(f"redwhistle: --department must be one of "
                  f"{', '.join(services.settings.departments)}", file=sys.stderr)
            return 2
        grids = tuple(args.grids.split(",")) if args.grids else ()
        print(services.tokens.create(role=args.role, name=args.name, department=args.department,
                                     street=args.street, grids=grids))
        return 0
    finally:
        services.close()
