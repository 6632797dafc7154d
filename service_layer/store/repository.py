"""The one way the use cases load and save aggregates.

It hides how a write reaches the event log (through the group committer, or
directly when that is switched off) and the write cache of the aggregates
written last (write_cache.py). `Governance` keeps what decides: the stripe
locks, the retries and the checks; it only asks the store to load, keep,
forget and save.
"""
from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from adapters.eventstore import RedWhistle
from adapters.settings import Settings
from service_layer.store.group_commit import GroupCommitter, stored_events
from service_layer.store.write_cache import LatestAggregates


class Store:
    def __init__(self, app: RedWhistle, settings: Settings,
                 group_commit: bool | None = None) -> None:
        self.app = app
        self.max_event_bytes = settings.max_event_bytes
        if group_commit is None:
            group_commit = settings.group_commit
        self.committer: GroupCommitter | None = GroupCommitter(
            app, max_event_bytes=settings.max_event_bytes) if group_commit else None
        self.latest = LatestAggregates(app, settings.write_cache_size)

    def get(self, aggregate_id: UUID) -> Any:
        """The aggregate at its latest stored version, a fresh object of the
        caller's own (AggregateNotFoundError if there is none)."""
        return self.app.repository.get(aggregate_id)

    def load(self, aggregate_id: UUID, check: bool) -> tuple[Any, bool]:
        """For a writer holding the aggregate's stripe lock: the aggregate, and
        whether it comes from memory unchecked (see write_cache.py)."""
        return self.latest.get(aggregate_id, check)

    def keep(self, aggregate: Aggregate) -> None:
        """The aggregate as committed, for the next writer."""
        self.latest.keep(aggregate)

    def forget(self, aggregate_id: UUID) -> None:
        """Drops what memory holds of it: it may hold events never stored."""
        self.latest.forget(aggregate_id)

    def save(self, *aggregates: Aggregate) -> int | None:
        """Writes their pending events; the position of the last one."""
        if self.committer is not None:
            return self.committer.save(*aggregates)  # returns once its own commit is done
        for aggregate in aggregates:  # refuses an event too large to store (EventTooLarge)
            stored_events(self.app.mapper, aggregate.pending_events, self.max_event_bytes)
        recordings = self.app.save(*aggregates)
        return recordings[-1].notification.id if recordings else None
