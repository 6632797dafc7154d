"""The relay's own tables: its position in the log, and the routing facts
(aggregate code, an issue's summoned departments) learnt up to that position.

Both are written in one transaction, so a crash leaves them consistent with
each other: on restart the relay republishes from the stored position with
exactly the memory it had there.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from uuid import UUID

from eventsourcing.application import Application

from adapters.db import Database

_CACHE_LIMIT = 200_000  # entries; past it the cache starts again from the tables


class RelayStore:
    def __init__(self, db: Database, app: Application, name: str = "kafka") -> None:
        self.db = db
        self.app = app
        self.name = name
        self.t_position = db.table("rw_relay_position")
        self.t_aggregates = db.table("rw_relay_aggregates")
        self.t_issues = db.table("rw_relay_issues")  # (made by adapters/migrations/)
        self._aggregates: dict[UUID, tuple[str, str]] = {}
        self._issues: dict[tuple[UUID, str], list[str]] = {}

    def position(self) -> tuple[int, str | None]:
        """The last position the broker acknowledged, and when it was stored."""
        rows = self.db.fetchall(f"SELECT position, published_at FROM {self.t_position} "
                                "WHERE relay = ?", (self.name,))
        return (int(rows[0][0]), rows[0][1]) if rows else (0, None)

    def batch(self) -> "BatchMemory":
        if len(self._aggregates) + len(self._issues) > _CACHE_LIMIT:
            self._aggregates.clear()
            self._issues.clear()
        return BatchMemory(self)

    def commit(self, position: int, batch: "BatchMemory") -> None:
        now = datetime.now(timezone.utc).isoformat()
        with self.db.transaction() as cur:
            if batch.new_aggregates:
                cur.executemany(
                    f"INSERT INTO {self.t_aggregates} VALUES (?, ?, ?) ON CONFLICT (originator_id) "
                    "DO UPDATE SET kind = excluded.kind, code = excluded.code",
                    [(str(oid), k, c) for oid, (k, c) in batch.new_aggregates.items()])
            if batch.new_issues:
                cur.executemany(
                    f"INSERT INTO {self.t_issues} VALUES (?, ?, ?) ON CONFLICT "
                    "(originator_id, issue_id) DO UPDATE SET departments = excluded.departments",
                    [(str(oid), i, json.dumps(d)) for (oid, i), d in batch.new_issues.items()])
            cur.execute(f"INSERT INTO {self.t_position} VALUES (?, ?, ?) ON CONFLICT (relay) "
                        "DO UPDATE SET position = excluded.position, "
                        "published_at = excluded.published_at", (self.name, position, now))
        self._aggregates.update(batch.new_aggregates)
        self._issues.update(batch.new_issues)

    # -- lookups, cache first ------------------------------------------------
    def _aggregate(self, oid: UUID) -> tuple[str, str] | None:
        if oid not in self._aggregates:
            rows = self.db.fetchall(f"SELECT kind, code FROM {self.t_aggregates} "
                                    "WHERE originator_id = ?", (str(oid),))
            if not rows:
                return None
            self._aggregates[oid] = (rows[0][0], rows[0][1])
        return self._aggregates[oid]

    def _departments(self, oid: UUID, issue_id: str) -> list[str] | None:
        if (oid, issue_id) not in self._issues:
            rows = self.db.fetchall(f"SELECT departments FROM {self.t_issues} WHERE "
                                    "originator_id = ? AND issue_id = ?", (str(oid), issue_id))
            if not rows:
                return None
            self._issues[(oid, issue_id)] = json.loads(rows[0][0])
        return self._issues[(oid, issue_id)]


class BatchMemory:
    """The router's memory while a batch is in flight: facts learnt in the
    batch stay here until the broker has acknowledged it."""

    def __init__(self, store: RelayStore) -> None:
        self.store = store
        self.new_aggregates: dict[UUID, tuple[str, str]] = {}
        self.new_issues: dict[tuple[UUID, str], list[str]] = {}

    def remember_aggregate(self, originator_id: UUID, kind: str, code: str) -> None:
        self.new_aggregates[originator_id] = (kind, code)

    def remember_issue(self, originator_id: UUID, issue_id: str, departments: list[str]) -> None:
        self.new_issues[(originator_id, issue_id)] = departments

    def aggregate(self, originator_id: UUID) -> tuple[str, str]:
        found = self.new_aggregates.get(originator_id) or self.store._aggregate(originator_id)
        if found is None:
            # Only when the tables were lost or truncated: the store still knows.
            state = self.store.app.repository.get(originator_id, version=1)
            found = (type(state).__name__, state.code)
            self.new_aggregates[originator_id] = found
        return found

    def departments(self, originator_id: UUID, issue_id: str, version: int) -> list[str]:
        found = (self.new_issues.get((originator_id, issue_id))
                 or self.store._departments(originator_id, issue_id))
        if found is None:
            state = self.store.app.repository.get(originator_id, version=version)
            found = list(state.issues[issue_id]["departments"])
            self.new_issues[(originator_id, issue_id)] = found
        return found
