"""Group commit: concurrent writes committed together, each caller answered alone.

On PostgreSQL every insert into the event log takes `LOCK TABLE ... IN
EXCLUSIVE MODE` and commits with an fsync, so one event per transaction tops
out near a thousand per second however many request threads there are. Here
the request threads hand their aggregates to one committer thread, which
writes the pending events of every request waiting at that moment in a single
transaction (one lock, one fsync) and then wakes each caller with its own
result. Nothing waits on purpose: while one transaction is in flight the next
requests queue up, so a quiet server commits one request at a time with no
added latency and a busy one commits dozens at once.

What does not change:
- Durability: a caller returns only after the transaction holding its events
  has committed.
- Errors stay per request. When a batch fails on a version conflict
  (IntegrityError: another process wrote the same compound first), the
  store is asked which requests' versions are taken: those losers get the
  IntegrityError, which `Governance._change` answers by reloading and
  replaying its command, and the rest is written again as one batch (if
  none is found, or that fails too, each request is written on its own). Any other failure of a batch is also retried
  request by request, except a lost connection (OperationalError,
  InterfaceError), which every caller of the batch is told about.
- Writers of the same compound in this process already take turns
  (`Governance._change` holds a striped lock from load to commit), so a batch
  rarely holds two writes of one aggregate; if it does, the later one fails
  at once with IntegrityError and is replayed.

Snapshots (every 50 events of a compound) are taken by the caller after its
commit, outside the committer thread, from the aggregate already in memory.

Each caller also turns its events into stored events in its own thread, and
refuses (EventTooLarge) any whose stored state exceeds `max_event_bytes`
before it joins a batch: a huge event would hold the log's lock while it
travels to the server, and every writer of every process waits on that lock.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (IntegrityError, InterfaceError, Mapper, OperationalError,
                                       StoredEvent)

# Exceptions that say the database, not a request, failed: retrying each
# request alone would only multiply the wait.
_INFRASTRUCTURE = (InterfaceError, OperationalError)


class EventTooLarge(ValueError):
    """An event whose stored state is above the configured maximum (HTTP 413)."""


def stored_events(mapper: Mapper, events: list[Any], max_bytes: int) -> list[StoredEvent]:
    """The events as the store will write them, refused if any is too large."""
    stored = [mapper.to_stored_event(e) for e in events]
    for event, record in zip(events, stored):
        if max_bytes and len(record.state) > max_bytes:
            raise EventTooLarge(f"{type(event).__qualname__} would be {len(record.state):,} "
                                f"bytes; at most {max_bytes:,} are stored per event")
    return stored


class _Request:
    __slots__ = ("aggregates", "events", "stored", "done", "position", "error")

    def __init__(self, aggregates: tuple[Aggregate, ...], mapper: Mapper,
                 max_event_bytes: int) -> None:
        self.aggregates = aggregates
        # Collected in the caller's thread: from here on the events belong to
        # the request, whatever happens to the batch.
        self.events: list[Any] = [e for a in aggregates for e in a.collect_events()]
        self.stored = stored_events(mapper, self.events, max_event_bytes)
        self.done = threading.Event()
        self.position: int | None = None
        self.error: BaseException | None = None

    def succeed(self, position: int | None) -> None:
        self.position = position
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class GroupCommitter:
    """Commits the pending events of concurrent callers in shared transactions.

    `save(*aggregates)` blocks until the caller's events are committed and
    returns the log position of its last event (None if it had none), or
    raises what writing them alone would have raised.
    """

    def __init__(self, app: Application, *, max_batch: int = 200, max_events: int = 2000,
                 idle_seconds: float = 2.0, max_event_bytes: int = 0) -> None:
        self.app = app
        self.max_event_bytes = max_event_bytes
        self.max_batch = max_batch
        self.max_events = max_events
        self.idle_seconds = idle_seconds
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._thread: threading.Thread | None = None
        # Counters for benchmarks and /health: transactions and requests.
        self.batches = 0
        self.requests = 0
        self.fallbacks = 0
        self.largest_batch = 0

    # -- the callers' side ---------------------------------------------------
    def save(self, *aggregates: Aggregate) -> int | None:
        request = _Request(aggregates, self.app.mapper, self.max_event_bytes)
        if not request.events:
            return None
        with self._cond:
            self._queue.append(request)
            if self._thread is None:
                # Started on demand and gone after idle_seconds without work,
                # so an idle or closed application leaves no thread behind.
                self._thread = threading.Thread(target=self._run, name="group-commit",
                                                daemon=True)
                self._thread.start()
            else:
                self._cond.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        self._snapshot(request)
        return request.position

    def _snapshot(self, request: _Request) -> None:
        intervals = getattr(self.app, "snapshotting_intervals", None)
        if not intervals or self.app.snapshots is None:
            return
        for aggregate in request.aggregates:
            interval = intervals.get(type(aggregate))
            if not interval:
                continue
            for event in request.events:
                if (event.originator_id == aggregate.id
                        and event.originator_version % interval == 0):
                    if event.originator_version == aggregate.version:
                        # The aggregate in memory is exactly that version:
                        # no need to read it back from the store.
                        snapshot_class = getattr(type(aggregate), "Snapshot",
                                                 type(self.app).snapshot_class)
                        self.app.snapshots.put([snapshot_class.take(aggregate)])
                    else:
                        self.app.take_snapshot(aggregate.id, version=event.originator_version)

    # -- the committer thread ------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait(timeout=self.idle_seconds)
                    if not self._queue:
                        self._thread = None
                        return
                batch = [self._queue.popleft()]
                events = len(batch[0].events)
                while (self._queue and len(batch) < self.max_batch
                       and events + len(self._queue[0].events) <= self.max_events):
                    request = self._queue.popleft()
                    events += len(request.events)
                    batch.append(request)
            try:
                self._commit(batch)
            except BaseException as exc:  # noqa: BLE001 - never leave a caller waiting
                for request in batch:
                    if not request.done.is_set():
                        request.fail(exc)

    def _commit(self, batch: list[_Request]) -> None:
        # Two requests of one batch writing the same aggregate: the later was
        # computed on a state the earlier is about to change, so it loses now
        # (the use case replays it) rather than failing the whole batch.
        seen: set[Any] = set()
        ready: list[_Request] = []
        for request in batch:
            ids = {e.originator_id for e in request.events}
            if ids & seen:
                request.fail(IntegrityError("another write to the same aggregate came first"))
            else:
                seen |= ids
                ready.append(request)
        self.batches += 1
        self.requests += len(ready)
        self.largest_batch = max(self.largest_batch, len(ready))
        self._write(ready, find_losers=True)

    def _write(self, ready: list[_Request], find_losers: bool) -> None:
        if len(ready) == 1:
            self._commit_alone(ready[0])
            return
        try:
            ids = self._put([e for r in ready for e in r.stored])
        except _INFRASTRUCTURE as exc:
            for request in ready:
                request.fail(exc)
            return
        except Exception:  # noqa: BLE001 - IntegrityError and the like: find the loser
            self.fallbacks += 1
            # API processes sharing a store race often enough that writing the
            # batch one by one (a transaction and an fsync each) would be the
            # norm: ask the store which versions are taken, write the rest again.
            losers = [r for r in ready if find_losers and self._version_taken(r)]
            for request in losers:
                request.fail(IntegrityError("another process wrote this aggregate first"))
            if losers:
                self._write([r for r in ready if r not in losers], find_losers=False)
            else:
                for request in ready:
                    self._commit_alone(request)
            return
        last: dict[Any, int] = {}
        for event, notification_id in zip((e for r in ready for e in r.events), ids):
            last[event.originator_id] = notification_id
        for request in ready:
            request.succeed(max((last[e.originator_id] for e in request.events
                                 if e.originator_id in last), default=None))

    def _version_taken(self, request: _Request) -> bool:
        first: dict[Any, int] = {}
        for e in request.events:
            first[e.originator_id] = min(first.get(e.originator_id, e.originator_version),
                                         e.originator_version)
        return any(self.app.recorder.select_events(originator_id, gt=version - 1, lte=version,
                                                   limit=1)
                   for originator_id, version in first.items())

    def _commit_alone(self, request: _Request) -> None:
        try:
            ids = self._put(request.stored)
        except Exception as exc:  # noqa: BLE001 - the caller gets its own error
            request.fail(exc)
            return
        request.succeed(ids[-1] if ids else None)

    def _put(self, stored: list[StoredEvent]) -> list[int]:
        """What `app.events.put` does after mapping: the callers mapped."""
        return list(self.app.recorder.insert_events(stored) or ())
