"""Wires the service layer together from settings; the one place that does."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.eventstore import Log, RedWhistle
from audit.chain import Chain
from consumers.relay_store import RelayStore
from adapters.db import Database
from adapters.clock import Clock, utcnow
from service_layer.governance import Governance
from adapters.migrate import migrate
from adapters.settings import Settings
from service_layer.contacts import Contacts
from service_layer.tokens import Tokens


@dataclass
class Services:
    settings: Settings
    app: RedWhistle
    db: Database
    governance: Governance
    tokens: Tokens
    log: Log  # what views, audit and the relay read the log through
    # One of each per process: the chain's lock serialises advancing it, the
    # relay store caches what the relay has routed.
    chain: Chain
    relay_store: RelayStore
    contacts: Contacts
    # The live views' follower when this process runs one (tests, `follow`).
    follower: Any = None

    def close(self) -> None:
        self.app.close()


def bootstrap(settings: Settings | None = None, clock: Clock = utcnow,
              api: bool = False) -> Services:
    """`api`: for an API process, whose statements are bounded in time."""
    settings = settings or Settings.from_env()
    app = RedWhistle.from_settings(settings, api=api)
    # Every start migrates (serve, relay, follow, token, ...): under a lock,
    # and in some 60 ms on PostgreSQL when nothing is pending.
    try:
        migrate(app, settings.database_url)
    except BaseException:
        app.close()
        raise
    db = Database(app)
    log = Log(app, db)
    return Services(settings=settings, app=app, db=db,
                    governance=Governance(app, settings, clock), tokens=Tokens(db, clock),
                    log=log, chain=Chain(log), relay_store=RelayStore(db, app),
                    contacts=Contacts(db))
