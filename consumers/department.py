"""The reference consumer a department runs, or embeds with its own handler.

    from consumers.department import DepartmentConsumer
    consumer = DepartmentConsumer.from_env("fire", handler=my_function)
    consumer.run()            # until SIGTERM / stop.set()

Each summons reaches the handler once: offsets are committed only after the
handler returned, and event ids already handed over are dropped, so neither a
crash nor a redelivery by the relay gives the handler the same summons twice.
A handler that raises is retried with backoff, with its partitions paused so
the group does not evict the member; nothing is skipped.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from adapters.kafka import KafkaConfig, ensure_topics, make_consumer
from consumers.seen import SeenStore
from adapters.settings import Settings, data_home

log = logging.getLogger("redwhistle.consumer")

Handler = Callable[[dict[str, Any]], None]


class DepartmentConsumer:
    def __init__(self, config: KafkaConfig, department: str, handler: Handler, *,
                 group_id: str | None = None, seen_path: str | None = None,
                 first_backoff: float = 0.5, max_backoff: float = 30.0,
                 poll_timeout_ms: int = 500, max_records: int = 200,
                 consumer_overrides: dict[str, Any] | None = None) -> None:
        self.config = config
        self.department = department
        self.handler = handler
        self.topic = config.summons_topic(department)
        self.group_id = group_id or f"{config.topic_prefix}-{department}"
        self.seen = SeenStore(seen_path or data_home() / f"consumer-{self.group_id}.sqlite")
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.consumer_overrides = consumer_overrides or {}
        self.handled = 0
        self.duplicates = 0
        self.failures = 0
        self._consumer: KafkaConsumer | None = None
        self._failed_in_a_row = 0

    @classmethod
    def from_env(cls, department: str, handler: Handler, **kwargs: Any) -> "DepartmentConsumer":
        """KAFKA_BOOTSTRAP_SERVERS, TOPIC_PREFIX and TOPIC_PARTITIONS from the environment."""
        return cls(KafkaConfig.from_settings(Settings.from_env()), department, handler, **kwargs)

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            ensure_topics(self.config, [self.topic])
            self._consumer = make_consumer(self.config, self.topic, self.group_id,
                                           **self.consumer_overrides)
        return self._consumer

    def assignment(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    # -- the loop --------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        backoff = self.first_backoff
        try:
            while not stop.is_set():
                try:
                    self.poll_once(stop)
                    backoff = self.first_backoff
                except KafkaError as exc:
                    log.warning("Kafka at %s: %s; retrying in %.1f s",
                                self.config.bootstrap_servers, exc, backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
        finally:
            self.close()

    def poll_once(self, stop: threading.Event | None = None) -> int:
        """One poll: hands each new summons to the handler, commits what was
        handled; returns how many the handler took."""
        consumer = self.consumer
        batch = consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        done: dict[TopicPartition, OffsetAndMetadata] = {}
        handled = 0
        pending = list(batch.items())
        for i, (tp, records) in enumerate(pending):
            for record in records:
                try:
                    handled += self._deliver(record)
                except Exception as exc:  # noqa: BLE001 - any sink failure is retried
                    self._commit(done)
                    # poll() already moved past the whole batch: rewind every
                    # partition to its first record not handed over.
                    consumer.seek(tp, record.offset)
                    for later_tp, later in pending[i + 1:]:
                        consumer.seek(later_tp, later[0].offset)
                    self._back_off(exc, record, stop)
                    return handled
                done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        self._commit(done)
        return handled

    def _deliver(self, record: Any) -> int:
        try:
            envelope = json.loads(record.value)
            event_id = envelope["event_id"]
        except (ValueError, KeyError, TypeError) as exc:
            # Retrying cannot fix a malformed message; keep it for inspection.
            log.error("rejected malformed message at %s[%d]@%d: %s", record.topic,
                      record.partition, record.offset, exc)
            self.seen.reject(record.topic, record.partition, record.offset, str(exc), record.value)
            return 0
        if event_id in self.seen:
            self.duplicates += 1
            return 0
        self.handler(envelope)
        self.seen.add(event_id, envelope.get("position"))
        self.handled += 1
        self._failed_in_a_row = 0
        return 1

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets)
        except KafkaError as exc:
            # Lost the partition in a rebalance: its next owner redelivers
            # and the seen-store drops what was already handed over.
            log.warning("offset commit failed (%s); the records will be redelivered", exc)

    def _back_off(self, exc: Exception, record: Any, stop: threading.Event | None) -> None:
        self.failures += 1
        self._failed_in_a_row += 1
        delay = min(self.first_backoff * 2 ** (self._failed_in_a_row - 1), self.max_backoff)
        log.warning("sink failed for %s[%d]@%d (attempt %d): %s; retrying in %.1f s",
                    record.topic, record.partition, record.offset, self._failed_in_a_row,
                    exc, delay)
        consumer = self.consumer
        paused = consumer.assignment()
        consumer.pause(*paused)
        try:
            # Polling while paused keeps the member in its group without
            # fetching; sleeping instead would get it evicted.
            waiter = stop or threading.Event()
            end = time.monotonic() + delay
            while not waiter.is_set() and (left := end - time.monotonic()) > 0:
                consumer.poll(timeout_ms=0)
                waiter.wait(min(left, 0.5))
        finally:
            consumer.resume(*(tp for tp in paused if tp in consumer.assignment()))

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            finally:
                self._consumer = None
        self.seen.close()
