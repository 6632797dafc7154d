"""The event store: one eventsourcing Application for the governance context.

Compounds and property companies share one application, so there is one log,
one sequence of positions and one hash chain for auditors to follow.
"""
from __future__ import annotations

from typing import Any

from eventsourcing.application import Application
from psycopg.sql import SQL, Composed

from domain.company import PropertyCompany
from domain.compound import Compound
from service_layer.settings import Settings, eventsourcing_env


class RedWhistle(Application):
    name = "RedWhistle"
    # A compound gathers thousands of events over the years; a snapshot every
    # 50 keeps loading it to one snapshot plus at most 49 events.
    snapshotting_intervals = {Compound: 50, PropertyCompany: 50}

    @classmethod
    def from_settings(cls, settings: Settings) -> "RedWhistle":
        # Tables are created by `service_layer.migrate`, under a lock.
        app = cls(env={**eventsourcing_env(settings.database_url), "CREATE_TABLE": "no"})
        for recorder in (app.recorder, app.snapshots and app.snapshots.recorder):
            render_statements_once(recorder)
        return app


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
