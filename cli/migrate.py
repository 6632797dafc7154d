"""`redwhistle migrate`: brings the store's tables up to date, and says so.

Every other command that opens the store migrates at start as well (under the
same lock, so processes started together take turns); this one lets an
operator do it first and see what was done."""
from __future__ import annotations

import argparse

from adapters.eventstore import RedWhistle
from adapters.migrate import migrate, migration_ids
from adapters.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the store's tables (idempotent)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    app = RedWhistle.from_settings(settings)
    try:
        applied = migrate(app, settings.database_url)
    finally:
        app.close()
    print(f"applied now: {', '.join(applied) or 'none'}")
    print(f"up to date at {migration_ids()[-1]}")
    return 0
