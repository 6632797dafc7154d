"""Small helpers shared by the Kafka tests: writing facts, configuring fast
clients, waiting for an outcome."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from adapters.kafka import KafkaConfig
from adapters.settings import Settings

# Tansu holds a JoinGroup for about half the session timeout; 6 s joins in ~3 s.
FAST_GROUP = dict(session_timeout_ms=6000, max_poll_interval_ms=5000)


def fast_config(settings: Settings, **over: Any) -> KafkaConfig:
    return KafkaConfig.from_settings(settings, **{**FAST_GROUP, **over})


def kafka_settings(database_url: str, bootstrap: str) -> Settings:
    return Settings(database_url=database_url, kafka_bootstrap_servers=bootstrap,
                    topic_prefix="rw" + uuid.uuid4().hex[:10])


def register(governance: Any, code: str) -> None:
    governance.register_compound(code=code, name=f"Compound {code}", district="Haidian",
                                 street="Xinjiekou", community="Huayuan", grids=["G1"],
                                 households=100, kind="old", management_mode="professional")


def whistle(governance: Any, code: str, departments: list[str], urgency: str = "normal") -> str:
    issue_id = str(uuid.uuid4())
    governance.blow_whistle(code, grid_worker="grid-1", issue_id=issue_id, category="noise",
                            description="Night-time noise from the courtyard",
                            departments=departments, urgency=urgency, source="resident",
                            grid=None, building=None, unit=None)
    return issue_id


def envelopes(records: list) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
