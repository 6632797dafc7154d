"""The hash chain along the log, and the sealer that keeps it and publishes seals.

Every event in the log gets a digest that covers the digest before it and the
event's canonical bytes, so changing, removing, adding or moving any event
changes every digest from that position on. docs/audit.md defines the hashing
precisely; `tools/verify_export.py` re-implements it with the standard library
alone and must agree with `canonical_bytes` and `chain_digest` here.

The chain is stored (table rw_audit_chain: position -> digest, recorded_at) as
the log grows, so the chain also remembers *which* positions existed: the log
has legitimate gaps (rolled-back inserts), and only the chain can tell a gap
from a deleted event. Seals (position, digest, time) are taken at least every
`every_seconds` while the log grows, or every `every_events` events, stored in
rw_audit_seals and published to Kafka topic `<prefix>.seals` when a broker is
configured, so that an attacker who rewrites both the log and the chain table
is still caught by the copies outside the database.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from adapters.background import Background
from service_layer.bootstrap import Services
from adapters.db import Cursor, Database

log = logging.getLogger("redwhistle.audit")

GENESIS = "0" * 64
FIELDS = ("position", "originator_id", "originator_version", "topic", "state")
CHAIN = "rw_audit_chain"
SEALS = "rw_audit_seals"


# -- the digest -------------------------------------------------------------
def parse_state(state: bytes) -> Any:
    """The stored state is JSON (eventsourcing's JSONTranscoder, no compression
    or cipher). Bytes that are not JSON (a clumsy edit) are kept as their hex
    so that they still hash, deterministically, and never crash a verify."""
    try:
        return json.loads(bytes(state).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"_undecodable_hex_": bytes(state).hex()}


def record(position: int, originator_id: Any, originator_version: int, topic: str,
           state: bytes) -> dict[str, Any]:
    """One event as the chain and the export see it."""
    oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    return {"position": int(position), "originator_id": str(oid),
            "originator_version": int(originator_version), "topic": topic,
            "state": parse_state(state)}


def record_of(notification: Any) -> dict[str, Any]:
    return record(notification.id, notification.originator_id, notification.originator_version,
                  notification.topic, notification.state)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def canonical_bytes(rec: dict[str, Any]) -> bytes:
    """UTF-8 of the JSON object {position, originator_id, originator_version,
    topic, state}, keys sorted at every level, no whitespace, non-ASCII
    characters written as themselves."""
    return canonical_json({k: rec[k] for k in FIELDS}).encode("utf-8")


def chain_digest(previous: str, canonical: bytes) -> str:
    """SHA-256, in lowercase hex, of the previous digest's 64 ASCII hex
    characters followed by the event's canonical bytes."""
    return hashlib.sha256(previous.encode("ascii") + canonical).hexdigest()


def recorded_at(rec: dict[str, Any]) -> str | None:
    """The library's timestamp of the event (when it was triggered, just
    before it was stored), as fixed-width UTC text that sorts as time does."""
    stamp = rec["state"].get("timestamp") if isinstance(rec["state"], dict) else None
    if isinstance(stamp, dict):
        stamp = stamp.get("_data_")
    if not isinstance(stamp, str):
        return None
    if len(stamp) == 32 and stamp.endswith("+00:00") and stamp[19] == ".":
        return stamp[:26] + "Z"  # the library's own UTC isoformat: already fixed-width
    try:
        return time_key(datetime.fromisoformat(stamp))
    except ValueError:
        return None


def time_key(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the log, raw -------------------------------------------------------------
def read_raw(services: Services, after: int = 0, until: int | None = None,
             batch: int = 5000) -> Iterator[list[Any]]:
    """Stored notifications (not decoded) after `after`, in batches, in log order."""
    recorder = services.app.recorder
    while True:
        got = recorder.select_notifications(start=after, limit=batch, stop=until,
                                            inclusive_of_start=False)
        if not got:
            return
        yield got
        after = got[-1].id
        if len(got) < batch:
            return


def events_table(services: Services) -> str:
    """The events table, qualified: `stored_events` on SQLite,
    `<schema>.redwhistle_events` on PostgreSQL."""
    return services.db.table(services.app.recorder.events_table_name)


def position_column(services: Services) -> str:
    return "notification_id" if services.db.is_postgres else "rowid"


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
    another advancer wrote first is left as it is."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.db: Database = services.db
        self.chain = self.db.table(CHAIN)
        self.seals = self.db.table(SEALS)
        self._lock = threading.Lock()  # (the tables: adapters/migrations/)

    @classmethod
    def of(cls, services: Services) -> "Chain":
        """The one Chain per Services (its lock serialises advancing in-process)."""
        chain = services.extras.get("audit_chain")
        if chain is None:
            chain = services.extras["audit_chain"] = cls(services)
        return chain

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
                got = self.services.app.recorder.select_notifications(
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


# -- Kafka -----------------------------------------------------------------
def seals_topic(services: Services) -> str:
    return f"{services.settings.topic_prefix}.seals"


class SealPublisher:
    """Publishes seals to `<prefix>.seals` (one partition, so they stay in
    order), keyed by position. The producer is made lazily and again after a
    failure: a broker that is down delays publication, never sealing."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.topic = seals_topic(services)
        self._producer: Any = None
        self._retry_at = 0.0

    def _ensure(self) -> Any:
        if self._producer is None:
            from dataclasses import replace

            from adapters.kafka import KafkaConfig, ensure_topics, make_producer
            cfg = KafkaConfig.from_settings(self.services.settings)
            ensure_topics(replace(cfg, partitions=1), [self.topic])
            self._producer = make_producer(cfg)
        return self._producer

    def publish(self, seals: list[Seal]) -> list[int]:
        """Sends the seals; returns the positions the broker acknowledged."""
        if not seals or time.monotonic() < self._retry_at:
            return []
        try:
            producer = self._ensure()
            futures = [(s.position, producer.send(
                self.topic, key=str(s.position).encode(),
                value=canonical_json(s.as_json()).encode("utf-8"))) for s in seals]
            producer.flush(timeout=30)
            return [p for p, f in futures if (f.get(timeout=30) and True)]
        except Exception as exc:  # noqa: BLE001 - broker trouble: retry later
            log.warning("could not publish seals to %s: %s", self.topic, exc)
            self.close()
            self._retry_at = time.monotonic() + 5.0
            return []

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception:  # noqa: BLE001
                pass
            self._producer = None


def read_seals_topic(services: Services, topic: str | None = None,
                     timeout: float = 30.0) -> list[Seal]:
    """Every seal on the topic, from the beginning, read without a consumer group."""
    from kafka import KafkaConsumer, TopicPartition

    from adapters.kafka import KafkaConfig
    cfg = KafkaConfig.from_settings(services.settings)
    topic = topic or seals_topic(services)
    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             bootstrap_timeout_ms=cfg.bootstrap_timeout_ms,
                             request_timeout_ms=cfg.request_timeout_ms,
                             allow_auto_create_topics=False, client_id="redwhistle-audit")
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"Kafka topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        seals: list[Seal] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    body = json.loads(r.value.decode("utf-8"))
                    seals.append(Seal(int(body["position"]), body["digest"],
                                      body.get("sealed_at", "")))
        return sorted(seals, key=lambda s: s.position)
    finally:
        consumer.close()


# -- the worker ----------------------------------------------------------------
class Sealer(Background):
    name = "audit-sealer"

    """Follows the log with the chain and seals it: a seal as soon as
    `every_events` events have been chained since the last one, and at least
    every `every_seconds` while new events arrive. Runs beside `serve` with
    start()/stop(); tick() does one round synchronously (tests, CLI)."""

    def __init__(self, services: Services, every_events: int = 1000,
                 every_seconds: float = 60.0, poll_seconds: float = 0.5,
                 clock: Any = None, publish: bool | None = None) -> None:
        if every_events < 1 or every_seconds <= 0:
            raise ValueError("every_events must be >= 1 and every_seconds > 0")
        super().__init__(poll_seconds)
        self.services = services
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.clock = clock or services.governance.clock
        self.chain = Chain.of(services)
        publish = bool(services.settings.kafka_bootstrap_servers) if publish is None else publish
        self.publisher = SealPublisher(services) if publish else None
        last = self.chain.last_seal()
        self._since = self.chain.count_after(last.position if last else 0)
        self._last_time = time.monotonic()

    def tick(self) -> list[Seal]:
        made: list[Seal] = []
        while True:
            step = self.chain.advance(max_events=self.every_events - self._since)
            self._since += step.count
            due = self._since >= self.every_events or (
                self._since > 0 and time.monotonic() - self._last_time >= self.every_seconds)
            if due:
                seal = self.chain.seal(self.clock())
                if seal:
                    made.append(seal)
                self._since = 0
                self._last_time = time.monotonic()
            if step.count == 0 or not due:
                break
        if self.publisher:
            pending = self.chain.stored_seals(unpublished=True)
            self.chain.mark_published(self.publisher.publish(pending))
        return made

    def seal_now(self) -> Seal | None:
        """Chains to the end of the log and seals its head (if not sealed yet)."""
        self.chain.advance()
        seal = self.chain.seal(self.clock())
        self._since, self._last_time = 0, time.monotonic()
        if self.publisher:
            pending = self.chain.stored_seals(unpublished=True)
            self.chain.mark_published(self.publisher.publish(pending))
        return seal

    def close(self) -> None:
        if self.publisher:
            self.publisher.close()


def chain_health(svc: Services) -> dict:
    """For GET /v1/health: how far the chain reaches and the last seal."""
    chain = Chain.of(svc)
    last = chain.last_seal()
    return {"chained": chain.head()[0], "last_seal": last.as_json() if last else None}
