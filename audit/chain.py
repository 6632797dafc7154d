"""The hash chain along the log, stored as the log grows (audit/hashing.py
defines the digests).

The chain is stored (table rw_audit_chain: position -> digest, recorded_at) as
the log grows, so the chain also remembers *which* positions existed: the log
has legitimate gaps (rolled-back inserts), and only the chain can tell a gap
from a deleted event. Seals (position, digest, time) are taken at least every
`every_seconds` while the log grows, or every `every_events` events (see
audit/sealer.py), stored in rw_audit_seals and published to Kafka (see
audit/kafka_seals.py), so that an attacker who rewrites both the log and the
chain table is still caught by the copies outside the database.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from adapters.db import Cursor, Database
from adapters.eventstore import Log
from audit.hashing import GENESIS, canonical_bytes, chain_digest, record_of, recorded_at, time_key

CHAIN = "rw_audit_chain"
SEALS = "rw_audit_seals"


# -- the log, raw -------------------------------------------------------------
def read_raw(log: Log, after: int = 0, until: int | None = None,
             batch: int = 5000) -> Iterator[list[Any]]:
    """Stored notifications (not decoded) after `after`, in batches, in log order."""
    recorder = log.app.recorder
    while True:
        got = recorder.select_notifications(start=after, limit=batch, stop=until,
                                            inclusive_of_start=False)
        if not got:
            return
        yield got
        after = got[-1].id
        if len(got) < batch:
            return


def events_table(log: Log) -> str:
    """The events table, qualified: `stored_events` on SQLite,
    `<schema>.redwhistle_events` on PostgreSQL."""
    return log.db.table(log.app.recorder.events_table_name)


def position_column(log: Log) -> str:
    return "notification_id" if log.db.is_postgres else "rowid"


# -- the stored chain ---------------------------------------------------------
@dataclass(frozen=True)
class Seal:
    position: int
    digest: str
    sealed_at: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Advance:
    position: int  # the chain's head after advancing
    digest: str
    count: int  # events chained by this call


class Chain:
    """The chain table, extended incrementally. Safe to advance from several
    threads and processes: digests are a pure function of the log, and a row
    another advancer wrote first is left as it is.

    Audit's one handle: what needs the chain (cuts by time, digests, verify,
    export, seals) takes a `Chain` and reads the log through `.log`; what
    needs only the log (replay) takes the `Log`. A process has one Chain,
    made by bootstrap: its lock serialises advancing it."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.db: Database = log.db
        self.chain = self.db.table(CHAIN)
        self.seals = self.db.table(SEALS)
        self._lock = threading.Lock()  # (the tables: adapters/migrations/)

    def head(self, cur: Cursor | None = None) -> tuple[int, str]:
        sql = (f"SELECT position, digest FROM {self.chain} "
               f"WHERE position = (SELECT MAX(position) FROM {self.chain})")
        if cur is None:
            rows = self.db.fetchall(sql)
        else:
            cur.execute(sql)
            rows = cur.fetchall()
        return (int(rows[0][0]), rows[0][1]) if rows else (0, GENESIS)

    def advance(self, until: int | None = None, max_events: int | None = None,
                batch: int = 5000) -> Advance:
        """Chains the events after the head (up to `until`, at most `max_events`)."""
        with self._lock:
            position, digest = self.head()
            count = 0
            while max_events is None or count < max_events:
                limit = batch if max_events is None else min(batch, max_events - count)
                got = self.log.app.recorder.select_notifications(
                    start=position, limit=limit, stop=until, inclusive_of_start=False)
                if not got:
                    break
                rows = []
                for n in got:
                    rec = record_of(n)
                    digest = chain_digest(digest, canonical_bytes(rec))
                    rows.append((rec["position"], digest, recorded_at(rec)))
                with self.db.transaction() as cur:
                    cur.executemany(f"INSERT INTO {self.chain} (position, digest, recorded_at) "
                                    "VALUES (?, ?, ?) ON CONFLICT (position) DO NOTHING", rows)
                position, count = rows[-1][0], count + len(rows)
                if len(got) < limit:
                    break
            return Advance(position, digest, count)

    def rows(self, after: int = 0, page: int = 10000) -> Iterator[tuple[int, str]]:
        """(position, digest) of the stored chain, in order."""
        while True:
            got = self.db.fetchall(f"SELECT position, digest FROM {self.chain} WHERE position > ? "
                                   "ORDER BY position LIMIT ?", (after, page))
            for position, digest in got:
                yield int(position), digest
            if len(got) < page:
                return
            after = int(got[-1][0])

    def digest_at(self, position: int) -> str:
        """The stored digest after every chained event up to `position`."""
        if position <= 0:
            return GENESIS
        rows = self.db.fetchall(f"SELECT digest FROM {self.chain} WHERE position = "
                                f"(SELECT MAX(position) FROM {self.chain} WHERE position <= ?)",
                                (position,))
        return rows[0][0] if rows else GENESIS

    def digests(self, positions: list[int]) -> dict[int, str]:
        if not positions:
            return {}
        marks = ",".join("?" * len(positions))
        return {int(p): d for p, d in self.db.fetchall(
            f"SELECT position, digest FROM {self.chain} WHERE position IN ({marks})", positions)}

    def position_at(self, moment: datetime) -> int:
        """The last position recorded at or before `moment` (0: none). Chains
        the log up to its end first, so the answer covers every event."""
        self.advance()
        rows = self.db.fetchall(f"SELECT MAX(position) FROM {self.chain} WHERE recorded_at <= ?",
                                (time_key(moment),))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def recorded_time(self, position: int) -> str | None:
        rows = self.db.fetchall(f"SELECT recorded_at FROM {self.chain} WHERE position = "
                                f"(SELECT MAX(position) FROM {self.chain} WHERE position <= ?)",
                                (position,))
        return rows[0][0] if rows else None

    # -- seals --------------------------------------------------------------
    def seal(self, sealed_at: datetime) -> Seal | None:
        """Records a seal of the chain's head; None when the chain is empty or
        the head is sealed already."""
        position, digest = self.head()
        if position == 0:
            return None
        seal = Seal(position, digest, time_key(sealed_at))
        with self.db.transaction() as cur:
            cur.execute(f"INSERT INTO {self.seals} (position, digest, sealed_at, published) "
                        "VALUES (?, ?, ?, 0) ON CONFLICT (position) DO NOTHING RETURNING position",
                        (seal.position, seal.digest, seal.sealed_at))
            created = bool(cur.fetchall())
        return seal if created else None

    def last_seal(self) -> Seal | None:
        rows = self.db.fetchall(f"SELECT position, digest, sealed_at FROM {self.seals} "
                                f"WHERE position = (SELECT MAX(position) FROM {self.seals})")
        return Seal(int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    def stored_seals(self, unpublished: bool = False) -> list[Seal]:
        where = " WHERE published = 0" if unpublished else ""
        return [Seal(int(p), d, t) for p, d, t in self.db.fetchall(
            f"SELECT position, digest, sealed_at FROM {self.seals}{where} ORDER BY position")]

    def mark_published(self, positions: list[int]) -> None:
        with self.db.transaction() as cur:
            cur.executemany(f"UPDATE {self.seals} SET published = 1 WHERE position = ?",
                            [(p,) for p in positions])

    def count_after(self, position: int) -> int:
        rows = self.db.fetchall(f"SELECT COUNT(*) FROM {self.chain} WHERE position > ?",
                                (position,))
        return int(rows[0][0])
