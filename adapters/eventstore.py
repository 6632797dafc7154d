"""The event store: one eventsourcing Application for the governance context.

Compounds and property companies share one application, so there is one log,
one sequence of positions and one hash chain for auditors to follow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import CanCreateTimestamp
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Composed

from domain.company import PropertyCompany
from domain.compound import Compound
from adapters import clock
from adapters.db import Database
from adapters.settings import Settings, eventsourcing_env

# Milliseconds, for the API's connections (Settings.statement_timeout).
STATEMENT_TIMEOUT = "RW_STATEMENT_TIMEOUT_MS"

# The library stamps every event and snapshot it makes through this one
# method, as the aggregate triggers it (eventsourcing/domain.py: `_create`,
# `trigger_event`, `Snapshot.take`). Read from adapters/clock.py instead, the
# stamp is the time of record of the command that made the event.
CanCreateTimestamp.create_timestamp = staticmethod(clock.now)  # type: ignore[method-assign]


class RedWhistle(Application):
    name = "RedWhistle"
    # A compound gathers thousands of events over the years; a snapshot every
    # 50 keeps loading it to one snapshot plus at most 49 events.
    snapshotting_intervals = {Compound: 50, PropertyCompany: 50}

    @classmethod
    def from_settings(cls, settings: Settings, api: bool = False) -> "RedWhistle":
        """`api`: the connections also get `settings.statement_timeout`.
        Tables are created by `adapters.migrate`, under a lock."""
        env = {**eventsourcing_env(settings.database_url, settings), "CREATE_TABLE": "no"}
        if api and settings.statement_timeout:
            env[STATEMENT_TIMEOUT] = str(int(settings.statement_timeout * 1000))
        return cls.from_env(env)

    @classmethod
    def from_env(cls, env: dict[str, str]) -> "RedWhistle":
        app = cls(env=env)
        for recorder in (app.recorder, app.snapshots and app.snapshots.recorder):
            render_statements_once(recorder)
        return app

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        factory = super().construct_factory(env)
        pool = getattr(getattr(factory, "datastore", None), "pool", None)
        if isinstance(getattr(pool, "kwargs", None), dict):  # PostgreSQL
            # Read by every connection the pool opens, and it opens none
            # before the tables are created, after this. The library passes
            # its connect timeout to the pool's wait only: libpq's own bounds
            # a connect to a host that does not answer (default: forever).
            pool.kwargs["connect_timeout"] = max(2, int(env.get("POSTGRES_CONNECT_TIMEOUT")
                                                        or 30))
            statement_ms = env.get(STATEMENT_TIMEOUT)
            if statement_ms:
                pool.kwargs["options"] = f"-c statement_timeout={statement_ms}"
        return factory


@dataclass(frozen=True)
class Log:
    """The one narrow interface views, audit and the relay read the log
    through: the application (its recorder and mapper) and the database
    handle. Not the composition root, which is for entry points only."""
    app: RedWhistle
    db: Database

    def address(self) -> dict[str, str] | None:
        """What another process needs to open this same store (`Log.open`);
        None for an in-memory SQLite database, which no other process sees."""
        env = dict(self.app.env)
        name = env.get("SQLITE_DBNAME", "")
        if not self.db.is_postgres and (":memory:" in name or "mode=memory" in name):
            return None
        return env

    @classmethod
    def open(cls, address: dict[str, str]) -> "Log":
        """The store at `address` (`Log.address`), from another process."""
        app = RedWhistle.from_env(address)
        return cls(app, Database(app))

    def close(self) -> None:
        self.app.close()


def render_statements_once(recorder: Any) -> None:
    """The PostgreSQL recorders keep their statements as psycopg `Composed`
    objects, which psycopg renders again on every execute, escaping each
    identifier through libpq: a tenth of a whistle's CPU in the API process.
    Rendered once here into plain SQL, the statements are the same text."""
    for name, value in list(vars(recorder).items()):
        if isinstance(value, Composed):
            setattr(recorder, name, SQL(value.as_string(None)))
        elif isinstance(value, list) and value and all(isinstance(v, Composed) for v in value):
            setattr(recorder, name, [SQL(v.as_string(None)) for v in value])
