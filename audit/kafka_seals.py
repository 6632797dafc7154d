"""Seals published to, and read back from, the Kafka topic `<prefix>.seals`:
the copies outside the database."""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from audit.chain import Seal
from audit.hashing import canonical_json

log = logging.getLogger("redwhistle.audit")


def seals_topic(settings: Any) -> str:  # adapters.settings.Settings
    return f"{settings.topic_prefix}.seals"


class SealPublisher:
    """Publishes seals to `<prefix>.seals` (one partition, so they stay in
    order), keyed by position. The producer is made lazily and again after a
    failure: a broker that is down delays publication, never sealing."""

    def __init__(self, settings: Any) -> None:  # adapters.settings.Settings
        self.settings = settings
        self.topic = seals_topic(settings)
        self._producer: Any = None
        self._retry_at = 0.0

    def _ensure(self) -> Any:
        if self._producer is None:
            from dataclasses import replace

            from adapters.kafka import KafkaConfig, ensure_topics, make_producer
            cfg = KafkaConfig.from_settings(self.settings)
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


def read_seals_topic(settings: Any, topic: str | None = None,
                     timeout: float = 30.0) -> list[Seal]:
    """Every seal on the topic, from the beginning, read without a consumer group."""
    from kafka import KafkaConsumer, TopicPartition

    from adapters.kafka import KafkaConfig
    cfg = KafkaConfig.from_settings(settings)
    topic = topic or seals_topic(settings)
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
