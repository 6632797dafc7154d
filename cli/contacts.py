"""`redwhistle contacts erase --issue ID | --email E | --phone P`: deletes the personal data an Open311
caller sent with an issue (PIPL erasure); the issue's events are untouched."""
from __future__ import annotations

import argparse

from service_layer.bootstrap import bootstrap
from service_layer.contacts import Contacts


def add_parser(sub: argparse._SubParsersAction) -> None:
    contacts = sub.add_parser("contacts", help="personal data kept outside the log")
    actions = contacts.add_subparsers(dest="action", required=True, parser_class=type(contacts))
    erase = actions.add_parser("erase", help="erase the personal data sent with an issue, "
                                             "or with every issue of a person")
    whose = erase.add_mutually_exclusive_group(required=True)
    whose.add_argument("--issue", help="the issue id (service_request_id)")
    whose.add_argument("--email", help="every issue filed with this email")
    whose.add_argument("--phone", help="every issue filed with this phone number")
    erase.set_defaults(run=run_erase)


def run_erase(args: argparse.Namespace) -> int:
    services = bootstrap()
    try:
        erased = Contacts(services.db).erase(args.issue, args.email, args.phone)
        print(f"erased the personal data of {erased} issue(s)")
        return 0
    finally:
        services.close()
