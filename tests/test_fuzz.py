"""The whole API fuzzed from its own OpenAPI document (schemathesis), on
SQLite and PostgreSQL, with an admin token: whatever a client sends that the
document allows, the answer is no 5xx, and its status, media type and body
are the ones the document gives for that operation.

Bounded for CI: EXAMPLES cases per operation, derandomized (the same cases
every run), each answered within DEADLINE. Failures of every operation are
gathered and reported together, the first case of each with its curl line."""
from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from api.app import create_app
from tests import story

EXAMPLES = 25
DEADLINE = timedelta(seconds=5)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def seed(client, auth) -> dict[str, list]:
    """A compound with an issue and a company, so that cases reach past the
    404 of an unknown code and the 422 of an unknown department: the hooks
    below draw half the values that name things from these."""
    assert client.post("/v1/companies", json=story.company("PC-01"),
                       headers=auth["official"]).status_code == 201
    assert client.post("/v1/compounds", json=story.compound("HD-001"),
                       headers=auth["official"]).status_code == 201
    issue = story.whistle(["fire"])
    r = client.post("/v1/compounds/HD-001/whistles", json=issue, headers=auth["grid_worker"])
    assert r.status_code == 201
    return {"compound": ["HD-001"], "company_code": ["PC-01"], "issue_id": [issue["issue_id"]],
            "community": ["Huayuan"], "name": ["dashboard", "agenda", "rankings",
                                               "community-agenda"],
            "department": ["fire"], "departments": [["fire"], ["fire", "police"]],
            "category": ["blocked_fire_lane"], "grid": ["G1", None],
            "from": ["2026-01-01"], "to": ["2027-01-01"],
            "as_of": ["2026-05-01T09:00:00Z", "3"], "code": ["HD-001", "PC-01"]}


def either(known: dict[str, list], values: dict[str, Any], path: str = ""):
    """`values` with each known name drawn half the time from `known`."""
    if not isinstance(values, dict):
        return st.just(values)
    def draw(name: str, value: Any):
        if name == "code":
            name = "company_code" if path.startswith("/v1/companies") else "compound"
        return st.sampled_from(known[name]) | st.just(value) if name in known else st.just(value)
    return st.fixed_dictionaries({k: draw(k, v) for k, v in values.items()})


def with_hooks(schema, known: dict[str, list]):
    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        return either(known, path_parameters, context.operation.path)

    @schema.hook
    def flatmap_query(context, query):
        return either(known, query)

    @schema.hook
    def flatmap_body(context, body):
        return either(known, body)

    return schema


def bounded_after(document: dict[str, Any]) -> dict[str, Any]:
    """`after` (read-your-writes) bounded near the log's head: a position the
    log has not reached waits 5 s for nothing (504, documented), every time."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for p in operation.get("parameters", []):
                if p["in"] == "query" and p["name"] == "after":
                    p["schema"] = dict(p["schema"], maximum=3)
    return document


def fuzz(client, headers: dict[str, str], document: dict[str, Any], known: dict[str, list],
         seen: dict[str, Counter]) -> list[str]:
    schema = with_hooks(schemathesis.openapi.from_dict(document), known)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES, deadline=DEADLINE, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def each(case) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
            if "data" in kwargs:
                kwargs["content"] = kwargs.pop("data")
            kwargs.pop("timeout", None)
            kwargs.pop("verify", None)
            kwargs.pop("allow_redirects", None)
            response = client.request(**kwargs)
            seen.setdefault(operation.label, Counter())[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        try:
            each()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported below
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    return failures


def test_the_api_answers_what_its_openapi_says(services, follower, auth):
    # A 500 is an answer to check here, not an exception to raise in the test.
    with TestClient(create_app(services, workers=[follower]),
                    raise_server_exceptions=False) as client:
        known = seed(client, auth)
        document = bounded_after(client.get("/openapi.json").json())
        started = time.monotonic()
        seen: dict[str, Counter] = {}
        failures = fuzz(client, auth["admin"], document, known, seen)
        elapsed = time.monotonic() - started
    for label, statuses in sorted(seen.items()):
        print(label, dict(statuses))
    assert not failures, f"{len(failures)} operations failed in {elapsed:.0f} s:\n\n" + \
        "\n\n".join(failures)
