"""The outbox relay on a real broker: what lands where, what survives a
relay crash, and what survives the broker going away."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from uuid import uuid5

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from consumers.department import DepartmentConsumer
from consumers.relay import Relay, relay_lag
from service_layer.bootstrap import bootstrap
from adapters.settings import Settings
from tests import story
from tests.kafka_broker import read_topic, topic_partitions
from tests.kafka_story import (envelopes, fast_config, kafka_settings, register, wait_for,
                               whistle)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> Settings:
    return kafka_settings(database_url, kafka_bootstrap)


def _summons(bootstrap: str, settings: Settings, department: str) -> list[tuple]:
    records = read_topic(bootstrap, f"{settings.topic_prefix}.summons.{department}")
    return [(e["type"], e["issue_id"], e["kind"], e["department"]) for e in envelopes(records)]


def test_every_stored_event_is_published_where_it_belongs(services, clock, kafka_bootstrap):
    g = services.governance
    register(g, "HD-1")
    register(g, "HD-2")
    g.register_company(code="PC-1", name="Golden Property", party_organisation=True)
    g.contract_property_company("HD-1", company_code="PC-1", starts_on="2026-01-01",
                                ends_on="2028-01-01")
    a = whistle(g, "HD-1", ["fire", "urban_management"])
    b = whistle(g, "HD-2", ["police"])
    assert relay_lag(services.app, services.relay_store)["positions_behind"] == services.app.recorder.max_notification_id()

    relay = Relay(services.log, services.settings)
    relay.catch_up()
    relay.close()
    # The rest is published by a new relay: it must learn from its own tables
    # that issue `a` summoned fire and urban management.
    g.report_in("HD-1", a, department="fire", officer="Officer Li")
    g.note_progress("HD-1", a, department="fire", note="Fire lane inspected")
    g.resolve("HD-1", a, department="fire", how="Cars towed")
    g.rate("HD-1", a, rating="unsatisfied", comment="Cars are back", rated_by="resident")
    clock.advance(hours=25)
    assert g.escalate_due("HD-1", a).created  # urban management never reported in
    assert g.escalate_due("HD-2", b).created  # nor did the police
    relay = Relay(services.log, services.settings, batch_size=3)
    relay.catch_up()
    relay.close()

    stored = [(n.id, services.app.mapper.to_domain_event(n))
              for n in services.app.recorder.select_notifications(start=1, limit=1000)]
    head = stored[-1][0]
    assert relay_lag(services.app, services.relay_store) | {"last_published_at": None} == {
        "position": head, "head": head, "positions_behind": 0, "seconds_behind": 0.0,
        "last_published_at": None}

    # One message per stored event on the events topic, keyed by its compound
    # (or company), with the envelope's fields taken from the stored event.
    records = read_topic(kafka_bootstrap, f"{services.settings.topic_prefix}.events")
    published = {json.loads(r.value)["position"]: r for r in records}
    assert len(records) == len(stored) and set(published) == {p for p, _ in stored}
    code_of = {}
    for position, event in stored:
        if type(event).__name__ == "Registered":  # compounds and companies alike
            code_of[event.originator_id] = event.code
        record = published[position]
        envelope = json.loads(record.value)
        assert record.key.decode() == code_of[event.originator_id]
        assert dict(record.headers)["schema-version"] == b"1"
        assert envelope["event_id"] == str(uuid5(event.originator_id,
                                                 str(event.originator_version)))
        assert envelope["type"] == type(event).__name__
        assert envelope["recorded_at"] == event.at.isoformat()
        assert envelope["issue_id"] == getattr(event, "issue_id", None)
        assert envelope["department"] is None
        compound = envelope["aggregate"] == "Compound"
        code_field = "compound_code" if compound else "company_code"
        assert envelope[code_field] == code_of[event.originator_id]
        assert envelope["payload"]["at"] == event.at.isoformat()
    # Per key, the log's order.
    by_key = defaultdict(list)
    for r in records:
        by_key[(r.key, r.partition)].append(json.loads(r.value)["position"])
    assert all(p == sorted(p) for p in by_key.values())
    assert len({k for k, _ in by_key}) == 3  # HD-1, HD-2, PC-1

    # Each department hears exactly the whistles naming it and their follow-ups.
    fire = [("WhistleBlown", a, "summons", "fire"), ("IssueResolved", a, "resolved", "fire"),
            ("IssueReopened", a, "reopened", "fire")]
    assert _summons(kafka_bootstrap, services.settings, "fire") == fire
    assert _summons(kafka_bootstrap, services.settings, "urban_management") == [
        (t, i, k, "urban_management") for t, i, k, _ in fire] + [
        ("IssueEscalated", a, "escalated", "urban_management")]
    assert _summons(kafka_bootstrap, services.settings, "police") == [
        ("WhistleBlown", b, "summons", "police"), ("IssueEscalated", b, "escalated", "police")]
    for quiet in ("housing", "water", "street_office"):
        assert _summons(kafka_bootstrap, services.settings, quiet) == []
    for r in read_topic(kafka_bootstrap, f"{services.settings.topic_prefix}.summons.fire"):
        assert r.key.decode() == a
    # Topics are made with the configured partition count, not the broker's default.
    assert topic_partitions(kafka_bootstrap, f"{services.settings.topic_prefix}.summons.water") == 3


_CRASHING_RELAY = """
import os
from consumers.relay import Relay
from service_layer.bootstrap import bootstrap
# Dies as a SIGKILL would: after the broker acknowledged, before the position is stored.
Relay.commit = lambda self, position, memory: os._exit(9)
services = bootstrap()
Relay(services.log, services.settings).catch_up()
"""


def test_a_relay_killed_between_publish_and_commit_causes_duplicates_only(
        services, tmp_path, kafka_bootstrap, database_url):
    g = services.governance
    register(g, "HD-1")
    issues = [whistle(g, "HD-1", ["fire"]) for _ in range(5)]
    env = dict(os.environ, DATABASE_URL=database_url, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
               TOPIC_PREFIX=services.settings.topic_prefix, PYTHONPATH=str(REPO))
    crashed = subprocess.run([sys.executable, "-c", _CRASHING_RELAY], cwd=REPO, env=env,
                             capture_output=True, timeout=60)
    assert crashed.returncode == 9, crashed.stderr.decode()[-2000:]
    topic = f"{services.settings.topic_prefix}.summons.fire"
    assert len(read_topic(kafka_bootstrap, topic)) == 5  # published...
    assert relay_lag(services.app, services.relay_store)["position"] == 0  # ...but not recorded as such

    relay = Relay(services.log, services.settings)
    relay.catch_up()
    relay.close()
    published = envelopes(read_topic(kafka_bootstrap, topic))
    assert len(published) == 10 and len({e["event_id"] for e in published}) == 5

    handed: list[dict] = []
    consumer = DepartmentConsumer(fast_config(services.settings), "fire", handed.append,
                                  seen_path=str(tmp_path / "seen.sqlite"))
    try:
        wait_for(lambda: consumer.poll_once() is not None
                 and consumer.handled + consumer.duplicates == 10, 30, "all 10 messages")
    finally:
        consumer.close()
    assert sorted(e["issue_id"] for e in handed) == sorted(issues)
    assert consumer.duplicates == 5


def test_whistles_blown_while_the_broker_is_down_are_delivered_when_it_returns(
        database_url, own_broker, tmp_path, caplog):
    settings = kafka_settings(database_url, own_broker.bootstrap)
    services = bootstrap(settings)
    grid_worker = {"Authorization": "Bearer " + services.tokens.create(role="grid_worker",
                                                                        name="grid-1",
                                                                        grids=("G1",))}
    # Short client timeouts so a dead broker is noticed in seconds.
    config = fast_config(settings, delivery_timeout_ms=3000, request_timeout_ms=2000,
                         max_block_ms=2000, bootstrap_timeout_ms=1500)
    relay = Relay(services.log, services.settings, config, poll_interval=0.02, max_backoff=1.0)
    caplog.set_level(logging.INFO, logger="redwhistle")
    try:
        with TestClient(create_app(services)) as api:
            assert api.post("/v1/compounds", json=story.compound("HD-1"),
                            headers={"Authorization": "Bearer " + services.tokens.create(
                                role="admin", name="admin")}).status_code == 201
            relay.start()

            def blow() -> str:
                response = api.post("/v1/compounds/HD-1/whistles", headers=grid_worker,
                                    json=story.whistle(["fire"], grid="G1"))
                assert response.status_code == 201, response.text
                return response.json()["issue_id"]

            before = [blow() for _ in range(3)]
            wait_for(lambda: relay.position == relay.head(), 15, "the first whistles published")

            own_broker.stop()
            during = [blow() for _ in range(10)]  # the API does not need the broker
            wait_for(lambda: "unavailable" in caplog.text, 20, "the relay to log the outage")
            assert relay_lag(services.app, services.relay_store)["positions_behind"] >= 10

            own_broker.start()  # same port, but empty: Tansu kept it all in memory
            wait_for(lambda: relay.position == relay.head(), 30, "the relay to catch up")
            assert "Kafka is back" in caplog.text
    finally:
        relay.stop()

    topic = f"{settings.topic_prefix}.summons.fire"
    delivered = [e["issue_id"] for e in envelopes(read_topic(own_broker.bootstrap, topic))]
    assert sorted(set(delivered)) == sorted(during)  # `before` went down with the old broker
    handed: list[dict] = []
    consumer = DepartmentConsumer(config, "fire", handed.append,
                                  seen_path=str(tmp_path / "seen.sqlite"))
    try:
        wait_for(lambda: consumer.poll_once() is not None and len(handed) >= len(during), 30,
                 "the department to receive every whistle")
    finally:
        consumer.close()
        services.close()
    assert sorted(e["issue_id"] for e in handed) == sorted(during)
    assert not set(before) & set(delivered)
