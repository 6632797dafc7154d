"""Kafka clients built from settings, and the topics they use.

Every client here turns off broker-side topic auto-creation: a topic created by
accident gets the broker's default partition count, which silently changes how
keys map to partitions. Topics are created explicitly, with TOPIC_PARTITIONS.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaConfigurationError, TopicAlreadyExistsError

from adapters.settings import ConfigError, Settings, env_number

log = logging.getLogger("redwhistle.kafka")


def _int(name: str, default: int) -> int:
    return int(env_number(name, default, int, "a whole number"))


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str
    topic_prefix: str = "redwhistle"
    partitions: int = 3
    replication_factor: int = 1
    # A dead broker must surface as an error within seconds, so the relay can
    # log it and back off instead of hanging inside the client.
    bootstrap_timeout_ms: int = 5000
    request_timeout_ms: int = 10000
    delivery_timeout_ms: int = 30000
    max_block_ms: int = 10000
    # Tansu (and brokers like it) keep a JoinGroup waiting for about half the
    # session timeout; 6 s is the usual broker minimum and joins in ~3 s.
    session_timeout_ms: int = 10000
    max_poll_interval_ms: int = 30000
    # Tansu answers a fetch only after the full wait even when records are
    # there, so kafka-python's default wait delays every summons
    # (bench/README.md); a real Kafka answers at once, so a short wait only
    # costs idle requests.
    fetch_max_wait_ms: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> "KafkaConfig":
        servers = overrides.pop("bootstrap_servers", None) or settings.kafka_bootstrap_servers
        if not servers:
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS is not set")
        base = cls(bootstrap_servers=servers, topic_prefix=settings.topic_prefix,
                   partitions=_int("TOPIC_PARTITIONS", 3),
                   replication_factor=_int("TOPIC_REPLICATION_FACTOR", 1),
                   delivery_timeout_ms=_int("KAFKA_DELIVERY_TIMEOUT_MS", 30000),
                   session_timeout_ms=_int("KAFKA_SESSION_TIMEOUT_MS", 10000),
                   max_poll_interval_ms=_int("KAFKA_MAX_POLL_INTERVAL_MS", 30000),
                   fetch_max_wait_ms=_int("KAFKA_FETCH_MAX_WAIT_MS", 100))
        return replace(base, **overrides)

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.events"

    def summons_topic(self, department: str) -> str:
        return f"{self.topic_prefix}.summons.{department}"


def make_producer(cfg: KafkaConfig) -> KafkaProducer:
    """Raises NoBrokersAvailable after bootstrap_timeout_ms when no broker answers.

    acks='all' and idempotence: a retried send is written once, and order
    per partition holds. A broker too old for idempotence gets one request in
    flight at a time instead, which keeps the order at some cost in speed."""
    common: dict[str, Any] = dict(
        bootstrap_servers=cfg.bootstrap_servers, acks="all", linger_ms=5, batch_size=131072,
        bootstrap_timeout_ms=cfg.bootstrap_timeout_ms, request_timeout_ms=cfg.request_timeout_ms,
        delivery_timeout_ms=cfg.delivery_timeout_ms, max_block_ms=cfg.max_block_ms,
        allow_auto_create_topics=False, client_id="redwhistle-relay", **cfg.extra)
    try:
        return KafkaProducer(enable_idempotence=True, **common)
    except KafkaConfigurationError as exc:
        log.warning("the broker does not support idempotent producers (%s); sending with "
                    "one request in flight", exc)
        return KafkaProducer(enable_idempotence=False,
                             max_in_flight_requests_per_connection=1, **common)


def idempotent(producer: KafkaProducer) -> bool:
    return producer._transaction_manager is not None  # noqa: SLF001 - no public accessor


def make_consumer(cfg: KafkaConfig, topic: str, group_id: str, **overrides: Any) -> KafkaConsumer:
    settings: dict[str, Any] = dict(
        bootstrap_servers=cfg.bootstrap_servers, group_id=group_id,
        enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=max(1000, cfg.session_timeout_ms // 3),
        max_poll_interval_ms=cfg.max_poll_interval_ms, fetch_max_wait_ms=cfg.fetch_max_wait_ms,
        bootstrap_timeout_ms=cfg.bootstrap_timeout_ms,
        request_timeout_ms=max(cfg.request_timeout_ms, cfg.session_timeout_ms + 5000),
        allow_auto_create_topics=False, client_id=f"redwhistle-{group_id}")
    settings.update(cfg.extra, **overrides)
    consumer = KafkaConsumer(**settings)
    consumer.subscribe([topic])
    return consumer


def ensure_topics(cfg: KafkaConfig, topics: list[str]) -> list[str]:
    """Creates the topics that are missing; returns the ones it created."""
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers,
                             bootstrap_timeout_ms=cfg.bootstrap_timeout_ms,
                             request_timeout_ms=cfg.request_timeout_ms,
                             client_id="redwhistle-admin")
    try:
        existing = set(admin.list_topics())
        wanted = list(dict.fromkeys(topics))
        missing = [t for t in wanted if t not in existing]
        _warn_on_partition_counts(admin, cfg, [t for t in wanted if t in existing])
        created = []
        for topic in missing:
            try:
                admin.create_topics([NewTopic(topic, cfg.partitions, cfg.replication_factor)])
                created.append(topic)
            except TopicAlreadyExistsError:
                pass  # another relay or consumer created it in between
        if created:
            log.info("created topics %s with %d partitions", ", ".join(created), cfg.partitions)
        return created
    finally:
        admin.close()


def _warn_on_partition_counts(admin: KafkaAdminClient, cfg: KafkaConfig, topics: list[str]) -> None:
    # A broker that auto-creates topics (Tansu does, even when the client asks
    # it not to) may have made one with its own default count. Order per key
    # still holds; only the key-to-partition map differs, so warn, not fail.
    if not topics:
        return
    for described in admin.describe_topics(topics):
        count = len(described.get("partitions") or ())
        if count and count != cfg.partitions:
            log.warning("topic %s has %d partitions, not the configured %d (created by the "
                        "broker or earlier settings)", described["name"], count, cfg.partitions)
