"""Wires the service layer together from settings; the one place that does."""
from __future__ import annotations

from dataclasses import dataclass, field

from adapters.eventstore import Log, RedWhistle
from adapters.db import Database
from service_layer.governance import Clock, Governance, utcnow
from adapters.migrate import migrate
from adapters.settings import Settings
from service_layer.tokens import Tokens


@dataclass
class Services:
    settings: Settings
    app: RedWhistle
    db: Database
    governance: Governance
    tokens: Tokens
    log: Log  # what views, audit and the relay read the log through
    extras: dict = field(default_factory=dict)  # per-feature singletons (e.g. read models)

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
    return Services(settings=settings, app=app, db=db,
                    governance=Governance(app, settings, clock), tokens=Tokens(db, clock),
                    log=Log(app, db))
