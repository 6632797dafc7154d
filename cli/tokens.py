"""`redwhistle token create|list|revoke`: a new bearer token is printed once;
listings never show a secret, only the id (the first digits of its hash)."""
from __future__ import annotations

import argparse
import re
import sys
from datetime import date, datetime, timedelta, timezone

from projections.moments import day_start
from service_layer.bootstrap import bootstrap
from adapters.limits import check_name
from service_layer.tokens import ROLES

_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser("token", help="manage API tokens")
    actions = token.add_subparsers(dest="action", required=True, parser_class=type(token))
    create = actions.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True)
    create.add_argument("--department")
    create.add_argument("--street")
    create.add_argument("--grids", default="", help="comma-separated grids a grid worker covers")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=_duration, metavar="N{d,h,m}",
                        help="valid for this long, e.g. 30d, 12h")
    expiry.add_argument("--expires", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="valid until 00:00 (UTC+8) of that day")
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    listing.set_defaults(run=run_list)
    revoke = actions.add_parser("revoke", help="revoke a token: refused within a second")
    revoke.add_argument("id", help="the token's id as `token list` shows it")
    revoke.set_defaults(run=run_revoke)


def _duration(text: str) -> timedelta:
    found = re.fullmatch(r"([1-9][0-9]*)([dhm])", text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30d, 12h or 90m")
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def _fail(message: str) -> int:
    print(f"redwhistle: {message}", file=sys.stderr)
    return 2


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
        return _fail(refused)
    services = bootstrap()
    try:
        if args.role == "department" and args.department not in services.settings.departments:
            return _fail(f"--department must be one of {', '.join(services.settings.departments)}")
        grids = tuple(args.grids.split(",")) if args.grids else ()
        expires_at = None
        if args.expires_in is not None:
            expires_at = services.governance.clock() + args.expires_in
        elif args.expires is not None:
            expires_at = day_start(args.expires)
        try:
            token = services.tokens.create(role=args.role, name=args.name,
                                           department=args.department, street=args.street,
                                           grids=grids, expires_at=expires_at)
        except ValueError as exc:
            return _fail(str(exc))
        print(token)
        return 0
    finally:
        services.close()


def _when(dt: datetime | None) -> str:
    return "-" if dt is None else dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def run_list(args: argparse.Namespace) -> int:
    services = bootstrap()
    try:
        now = services.governance.clock()
        lines = [("id", "name", "role", "scope", "created", "expires", "state")]
        for t in services.tokens.list():
            scope = ";".join(filter(None, [t.department and f"department={t.department}",
                                           t.street and f"street={t.street}",
                                           t.grids and f"grids={','.join(t.grids)}"])) or "-"
            state = ("revoked" if t.revoked_at else
                     "expired" if t.expires_at and t.expires_at <= now else "active")
            lines.append((t.id, t.name, t.role, scope, _when(t.created_at),
                          _when(t.expires_at), state))
        widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
        for line in lines:
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
        return 0
    finally:
        services.close()


def run_revoke(args: argparse.Namespace) -> int:
    services = bootstrap()
    try:
        try:
            t = services.tokens.revoke(args.id)
        except (ValueError, LookupError) as exc:
            return _fail(str(exc))
        print(f"revoked {t.id} ({t.name}, {t.role}) at {_when(t.revoked_at)}")
        return 0
    finally:
        services.close()
