"""`redwhistle`: one subcommand per module. Each module in COMMANDS offers
`add_parser(subparsers)`, which registers its subcommand and sets `run`, a
function of the parsed arguments returning the exit code.

Bad usage exits 2 with one line on stderr, as argparse does.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = [
    "cli.serve",
    "cli.follow",
    "cli.tokens",
    "cli.relay",
    "cli.consume",
    "cli.project",
    "cli.audit",
    "cli.bench",
    "cli.contacts",
    "cli.migrate",
]
# Commands that open the store: each says on stderr which one (a default
# store in another place than the server's is an easy mistake to make).
# Commands that open the store name it on stderr, so a token made for
# another store than the server's shows: the services when they start, the
# others when they succeed.
SERVICES = {"serve", "follow", "relay"}
STORE_COMMANDS = {"token", "project", "audit", "migrate", "contacts"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"redwhistle: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="redwhistle", description="Red Whistle: compound governance backend")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_on", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if args.command in SERVICES and not getattr(args, "exit_with", None):
        _name_the_store()  # before the service's own log lines
    code = int(args.run(args) or 0)
    if args.command in STORE_COMMANDS and code == 0:
        _name_the_store()  # a refusal stays one line on stderr
    return code


def _name_the_store() -> None:
    from adapters.settings import Settings, store_url
    print(f"store: {store_url(Settings.from_env().database_url)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
