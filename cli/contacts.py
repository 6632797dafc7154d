"""`redwhistle contacts erase --issue ID`: deletes the personal data an Open311
caller sent with an issue (PIPL erasure); the issue's events are untouched."""
from __future__ import annotations

import argparse

from service_layer.bootstrap import bootstrap
from service_layer.contacts import Contacts


def add_parser(sub: argparse._SubParsersAction) -> None:
    contacts = sub.add_parser("contacts", help="personal data kept outside the log")
    actions = contacts.add_subparsers(dest="action", required=True, parser_class=type(contacts))
    erase = actions.add_parser("erase", help="erase the personal data sent with an issue")
    erase.add_argument("--issue", required=True, help="the issue id (service_request_id)")
    erase.set_defaults(run=run_erase)


def run_erase(args: argparse.Namespace) -> int:
    services = bootstrap()
    try:
        found = Contacts(services.db).erase(args.issue)
        print(f"erased the personal data of issue {args.issue}" if found
              else f"issue {args.issue} had no personal data")
        return 0
    finally:
        services.close()
