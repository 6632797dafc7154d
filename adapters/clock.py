"""The time of record: one reading of one clock for a command and its events.

The use cases take their clock as an argument (tests move it by hand). The
event library stamps each event it creates with a time of its own
(`eventsourcing.domain.CanCreateTimestamp.create_timestamp`), and that stamp
is what the audit chain keeps as "recorded at" and cuts `as_of` by
(audit/hashing.py). adapters/eventstore.py points the library's stamp at
`now()` here, and `Governance` runs each command inside `command_at(its
clock's reading)`: an event's `at` and its stamp are then the same moment,
and a test that steps its clock steps both.

A ContextVar, not a global: the moment belongs to the thread (or task) that
runs the command, which is where the library stamps its events; any other
thread, and any event made outside a command (a test writing the domain
directly, the benchmarks), reads the wall clock, as the library did.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

Clock = Callable[[], datetime]

_moment: ContextVar[datetime | None] = ContextVar("time_of_record", default=None)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def now() -> datetime:
    """The moment of the command running in this context, else the wall clock."""
    moment = _moment.get()
    return utcnow() if moment is None else moment


@contextmanager
def command_at(moment: datetime) -> Iterator[datetime]:
    """Everything stamped in this context until it exits is stamped `moment`."""
    token = _moment.set(moment)
    try:
        yield moment
    finally:
        _moment.reset(token)
