"""A request posted over Open311 reaches the routed department's Kafka topic
like any whistle (a Tansu broker; SQLite and PostgreSQL)."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from consumers.relay import Relay
from adapters.settings import DEFAULT_DEPARTMENTS, Settings, parse_routes
from tests import story
from tests.kafka_broker import read_topic
from tests.kafka_story import kafka_settings


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> Settings:
    base = kafka_settings(database_url, kafka_bootstrap)
    return Settings(**{**base.__dict__, "routes": parse_routes(
        "elevator_fault=elevator_safety+housing", DEFAULT_DEPARTMENTS)})


def test_open311_request_summons_the_routed_departments(services, follower, auth,
                                                       kafka_bootstrap):
    with TestClient(create_app(services, workers=[follower])) as client:
        assert client.post("/v1/compounds", json=story.compound("HU-001"),
                           headers=auth["official"]).status_code == 201
        token = auth.as_("hotline")["Authorization"].removeprefix("Bearer ")
        r = client.post("/open311/v2/requests.json", data=dict(
            api_key=token, service_code="elevator_fault", address_id="HU-001",
            description="3号楼电梯困人", email="resident@example.cn"),
            headers={"Idempotency-Key": "call-1"})
        assert r.status_code == 201, r.text
        issue_id = r.json()[0]["service_request_id"]
    relay = Relay(services.log, services.settings)
    relay.catch_up()
    relay.close()
    prefix = services.settings.topic_prefix
    for department in ("elevator_safety", "housing"):
        [summons] = [json.loads(m.value) for m in
                     read_topic(kafka_bootstrap, f"{prefix}.summons.{department}")]
        assert (summons["type"], summons["kind"], summons["issue_id"]) == (
            "WhistleBlown", "summons", issue_id)
        assert summons["payload"]["source"] == "hotline_12345"
        assert "resident@example.cn" not in json.dumps(summons)
    events = read_topic(kafka_bootstrap, f"{prefix}.events")
    assert not any(b"resident@example.cn" in m.value for m in events)
    [blown] = [json.loads(m.value) for m in events if b'"WhistleBlown"' in m.value]
    assert blown["payload"]["departments"] == ["elevator_safety", "housing"]
