"""The last committed state of the aggregates written most recently.

Loading a compound means decoding its snapshot (every issue it ever had)
and the events since, which grows with the compound's age and is the largest
part of a write (bench/README.md). A writer that finds the compound here uses it as it is, without
asking the store: if another process wrote meanwhile (another API process,
the deadline watcher), saving fails on the version check and the writer
asks again with `check=True`, which reads the events stored after the
version held. `Governance._change` also asks again before it trusts a
refusal or a repeat decided on memory alone.

The cached object is mutated by the next writer of the same aggregate, so it
is only touched under that aggregate's stripe lock in `Governance._change`,
and whatever a caller reads of it after the lock is released must have been
copied under the lock (the snapshot there, service_layer/snapshots.py). A
write that fails for any reason drops the entry: its state may hold events
that were never stored.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate


class LatestAggregates:
    def __init__(self, app: Application, size: int) -> None:
        self.app = app
        self.size = size
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()  # guards the mapping, not the aggregates
        self.hits = 0
        self.misses = 0

    def get(self, aggregate_id: UUID, check: bool = False) -> tuple[Aggregate, bool]:
        """The aggregate, and whether it comes from memory unchecked (it may
        then lag behind the store). With `check` it is at the latest stored
        version. AggregateNotFoundError if there is none."""
        with self._lock:
            aggregate = self._items.get(aggregate_id)
            if aggregate is not None:
                self._items.move_to_end(aggregate_id)
        if aggregate is None:
            self.misses += 1
            return self.app.repository.get(aggregate_id), False
        self.hits += 1
        if not check:
            return aggregate, True
        for event in self.app.events.get(aggregate_id, gt=aggregate.version):
            aggregate = event.mutate(aggregate)
        return aggregate, False

    def keep(self, aggregate: Aggregate) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._items.pop(aggregate_id, None)
