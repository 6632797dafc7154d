"""The event store: one eventsourcing Application for the governance context.

Compounds and property companies share one application, so there is one log,
one sequence of positions and one hash chain for auditors to follow.
"""
from __future__ import annotations

from eventsourcing.application import Application

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
        return cls(env=eventsourcing_env(settings.database_url))
