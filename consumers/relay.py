"""The outbox relay: follows the event log in order and publishes each event
to Kafka, then records the position the broker acknowledged.

The event store is the outbox. A position is stored only after every message
up to it was acknowledged (acks='all'), so nothing stored is left unpublished;
a crash between the acknowledgement and the position write republishes the
batch: duplicates, never gaps. Consumers drop duplicates by event id.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from eventsourcing.application import Application
from kafka import KafkaProducer
from kafka.errors import KafkaError

from adapters.background import Background
from adapters.kafka import KafkaConfig, ensure_topics, idempotent, make_producer
from consumers.envelope import Message, route
from consumers.relay_store import BatchMemory, RelayStore
from adapters.eventstore import Log
from adapters.settings import Settings

logger = logging.getLogger("redwhistle.relay")


class Relay(Background):
    name = "relay"
    join_timeout = 30.0

    def __init__(self, log: Log, settings: Settings, config: KafkaConfig | None = None, *,
                 name: str = "kafka", batch_size: int = 500, poll_interval: float = 0.05,
                 max_backoff: float = 30.0, lag_log_every: float = 30.0) -> None:
        super().__init__(poll_interval)
        self.app = log.app
        self.config = config or KafkaConfig.from_settings(settings)
        self.store = RelayStore(log.db, log.app, name)
        self.departments = settings.departments
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.lag_log_every = lag_log_every
        self.position = self.store.position()[0]
        self._producer: KafkaProducer | None = None
        self._topics: set[str] = set()
        self._last_lag_log = 0.0
        self.doorbell: Doorbell | None = None  # listens only while run() runs

    # -- the broker, connected lazily ----------------------------------------
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            producer = make_producer(self.config)
            try:
                # Created on every (re)connect: a broker that lost its topics
                # (Tansu keeps them in memory) gets them back before any send.
                wanted = [self.config.events_topic,
                          *map(self.config.summons_topic, self.departments)]
                ensure_topics(self.config, wanted)
            except BaseException:
                producer.close(timeout=0)
                raise
            self._topics = set(wanted)
            logger.info("connected to Kafka at %s (idempotent producer: %s), publishing from "
                        "position %d", self.config.bootstrap_servers, idempotent(producer),
                        self.position)
            self._producer = producer
        return self._producer

    def disconnect(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # noqa: BLE001 - a broken producer may fail to close; drop it
                pass
            self._producer = None

    close = disconnect

    # -- one batch -------------------------------------------------------------
    def pending(self) -> tuple[list[Message], int, int, BatchMemory] | None:
        """The messages for the next batch of the log, without sending them."""
        notifications = self.app.recorder.select_notifications(
            start=self.position, limit=self.batch_size, inclusive_of_start=False)
        if not notifications:
            return None
        memory = self.store.batch()
        messages: list[Message] = []
        for n in notifications:
            messages += route(n.id, self.app.mapper.to_domain_event(n), memory,
                              self.config.events_topic, self.config.summons_topic)
        return messages, len(notifications), notifications[-1].id, memory

    def publish_batch(self) -> int:
        """Publishes the next batch and stores its position; returns how many
        events it published. Raises if the broker did not acknowledge all."""
        batch = self.pending()
        if batch is None:
            return 0
        messages, count, last, memory = batch
        producer = self.producer()
        unknown = {m.topic for m in messages} - self._topics
        if unknown:  # a department dropped from the configuration still gets its summonses
            ensure_topics(self.config, sorted(unknown))
            self._topics |= unknown
        futures = [producer.send(m.topic, key=m.key.encode(), value=m.value, headers=m.headers)
                   for m in messages]
        producer.flush(timeout=self.config.delivery_timeout_ms / 1000 + 5)
        for f in futures:
            f.get(timeout=0)  # raises the send's error, if any
        self.commit(last, memory)
        return count

    def commit(self, position: int, memory: BatchMemory) -> None:
        self.store.commit(position, memory)
        self.position = position

    # -- running ---------------------------------------------------------------
    def catch_up(self, timeout: float = 60.0) -> None:
        """Publishes until the log is exhausted (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.publish_batch() == self.batch_size or self.position < self.head():
            if time.monotonic() > deadline:
                raise TimeoutError(f"relay still at {self.position} of {self.head()}")

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        self.doorbell = doorbell = Doorbell(self.app)
        try:
            while not stop.is_set():
                try:
                    doorbell.clear()  # before reading: an insert after this rings again
                    published = self.publish_batch()
                except KafkaError as exc:
                    self._failed(f"Kafka at {self.config.bootstrap_servers} is unavailable "
                                 f"({_describe(exc)})", backoff)
                except Exception as exc:  # noqa: BLE001 - e.g. the database restarting; keep trying
                    logger.exception("relay failed at position %d", self.position)
                    self._failed(f"relay error ({type(exc).__name__})", backoff)
                else:
                    if backoff > 0.5:
                        logger.info("Kafka is back; published up to position %d", self.position)
                    backoff = 0.5
                    self._log_lag()
                    if published < self.batch_size:
                        doorbell.wait(self.poll_interval)
                    continue
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        finally:
            self.disconnect()
            doorbell.close()

    # -- as a background part of another process (tests, `serve`) -------------
    def stop(self) -> None:
        self._stop.set()
        if self.doorbell:  # it may be waiting for an insert
            self.doorbell.ring()
        super().stop()

    def _failed(self, why: str, backoff: float) -> None:
        self.disconnect()
        # Forget the unacknowledged batch: it is read again from the stored position.
        self.position = self.store.position()[0]
        behind = self.head() - self.position
        logger.warning("%s; %d positions waiting; retrying in %.1f s", why, behind, backoff)

    def _log_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_log >= self.lag_log_every:
            self._last_lag_log = now
            lag = lag_of(self.app, self.store)
            logger.info("relay lag: %d positions, %.1f s behind (position %d of %d)",
                        lag["positions_behind"], lag["seconds_behind"], lag["position"], lag["head"])


class Doorbell:
    """Rings when PostgreSQL notifies an insert into the events table (the
    library NOTIFYs on every insert), so a whistle is published within
    milliseconds rather than at the next poll. SQLite has no notifications:
    there the bell never rings and the relay polls."""

    def __init__(self, app) -> None:
        self._rung = threading.Event()
        self._closed = threading.Event()
        recorder = app.recorder
        if hasattr(recorder, "channel_name") and hasattr(recorder.datastore, "get_connection"):
            threading.Thread(target=self._listen, args=(recorder,), name="relay-doorbell",
                             daemon=True).start()

    def _listen(self, recorder) -> None:
        from psycopg.sql import SQL, Identifier
        while not self._closed.is_set():
            try:
                with recorder.datastore.get_connection() as conn:
                    conn.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._rung.set()
            except Exception as exc:  # noqa: BLE001 - polling still works meanwhile
                logger.debug("LISTEN failed (%s); polling only until it reconnects", exc)
                self._closed.wait(1.0)

    def clear(self) -> None:
        self._rung.clear()

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout: float) -> None:
        self._rung.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        self._rung.set()


def _describe(exc: Exception) -> str:
    text, name = str(exc), type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name


def lag_of(app: Application, store: RelayStore) -> dict:
    position, published_at = store.position()
    head = app.recorder.max_notification_id() or 0
    seconds = 0.0
    if head > position:
        first = app.recorder.select_notifications(start=position, limit=1, inclusive_of_start=False)
        if first:
            stored = app.mapper.to_domain_event(first[0]).timestamp
            seconds = max(0.0, (datetime.now(timezone.utc) - stored).total_seconds())
    # Ids have gaps (rolled-back inserts), so positions_behind can overstate the
    # count of unpublished events; it is zero exactly when nothing is waiting.
    return {"position": position, "head": head, "positions_behind": max(0, head - position),
            "seconds_behind": round(seconds, 3), "last_published_at": published_at}


def relay_lag(app: Application, store: RelayStore) -> dict:
    """For GET /v1/health: how far the relay is behind the log."""
    return lag_of(app, store)
