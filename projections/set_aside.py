"""Events a view could not fold, set aside so the view goes on.

An event the API would refuse today may still be in the log (written before
a bound existed, or by an importer that went round the API). Folding it
fails the same way every time, and a follower that retried it forever would
freeze the view at the event before it, and every `?after=` read with it.
So `feed` (projections/feed.py), when a batch fails to apply, looks for the
event that fails, records it here and goes on without it for that view
only; the other views fold it as usual. Errors of the database rather than
of the event (connection lost, lock or statement timeouts, serialization
failures) never set an event aside: the batch is retried as before.

A rebuild forgets what the view set aside before and finds it again.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from eventsourcing.utils import get_topic

from adapters.eventstore import Log
from adapters.db import Cursor, Database

logger = logging.getLogger("redwhistle.views")

TABLE = "rw_set_aside"
ERROR_CHARS = 1000  # of the error's text kept


def transient(exc: BaseException) -> bool:
    """An error of the database or the connection, not of the event: the
    same batch may well go through when tried again."""
    import sqlite3

    import psycopg
    from eventsourcing import persistence
    while isinstance(exc, persistence.PersistenceError) and exc.__cause__ is not None:
        exc = exc.__cause__  # the library's wrapping of the driver's error
    if isinstance(exc, psycopg.Error):
        # Class 54 (a value too big for an index, say) is the event's doing.
        return (isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
                and not (exc.sqlstate or "").startswith("54"))
    return isinstance(exc, (sqlite3.OperationalError, sqlite3.InterfaceError,
                            persistence.OperationalError, persistence.InterfaceError, MemoryError))


def _printable(text: str) -> str:
    # The error may quote the very value that failed (a NUL, a lone surrogate).
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")[:ERROR_CHARS]


def record(db: Database, cur: Cursor, prefix: str, view: str, position: int, event: Any,
           exc: BaseException) -> None:
    """Inside the feeding transaction, so the record and the view's position
    commit together."""
    error = _printable(f"{type(exc).__name__}: {exc}")
    topic = get_topic(type(event))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cur.execute(f"INSERT INTO {db.table(TABLE)} "
                "(prefix, view, position, topic, error, recorded_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (prefix, view, position) DO UPDATE SET topic = excluded.topic, "
                "error = excluded.error, recorded_at = excluded.recorded_at",
                (prefix, view, position, topic, error, now))
    logger.error("view %s%s set aside the event at position %d (%s): %s",
                 prefix, view, position, topic, error)


def forget(db: Database, cur: Cursor, prefix: str, view: str) -> None:
    cur.execute(f"DELETE FROM {db.table(TABLE)} WHERE prefix = ? AND view = ?", (prefix, view))


def set_aside(log: Log, prefix: str = "") -> list[dict[str, Any]]:
    """What the views built under `prefix` ("" is live) set aside, in log order."""
    db = log.db
    rows = db.fetchall(f"SELECT view, position, topic, error, recorded_at FROM {db.table(TABLE)} "
                       "WHERE prefix = ? ORDER BY position, view", (prefix,))
    return [dict(view=v, position=int(p), topic=t, error=e, recorded_at=r)
            for v, p, t, e, r in rows]


def count(log: Log) -> int:
    """Events the live views set aside (GET /health shows it)."""
    db = log.db
    return int(db.fetchall(f"SELECT count(*) FROM {db.table(TABLE)} WHERE prefix = ''")[0][0])
