"""Every error answers RFC 9457 problem details (docs/errors.md): the media
type application/problem+json, a `type` per kind, a `title`, the `status`
repeated, and the wrong fields named where input was wrong."""
from __future__ import annotations

import dataclasses
import logging

from fastapi import HTTPException
from fastapi.testclient import TestClient

from api.app import create_app
from service_layer.bootstrap import bootstrap
from tests import story
from tests.conftest import Tokens


def problem(r, status: int, kind: str, title: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert (body["type"], body["title"], body["status"]) == (f"/problems/{kind}", title, status)
    assert isinstance(body.get("detail", ""), str)
    return body


def compound(client, auth) -> None:
    r = client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    assert r.status_code == 201


def test_malformed_json_names_the_body_and_the_position(client, auth):
    r = client.post("/v1/compounds", content=b'{"code": "HD-001", "name":',
                    headers=dict(auth["official"], **{"content-type": "application/json"}))
    body = problem(r, 400, "malformed-body", "Malformed body")
    [field] = body["fields"]
    assert field["field"] == "body" and "position 26" in field["reason"]


def test_bytes_that_are_not_text_are_a_malformed_body(client, auth):
    r = client.post("/v1/compounds", content=b'{"code": "\x80"}',
                    headers=dict(auth["official"], **{"content-type": "application/json"}))
    body = problem(r, 400, "malformed-body", "Malformed body")
    assert [f["field"] for f in body["fields"]] == ["body"]
    assert "0x80" in body["fields"][0]["reason"]


def test_validation_names_every_wrong_field(client, auth):
    r = client.post("/v1/compounds", json=story.compound(households=-1, kind="castle"),
                    headers=auth["official"])
    body = problem(r, 422, "invalid", "Invalid input")
    assert sorted(f["field"] for f in body["fields"]) == ["households", "kind"]
    assert all(f["reason"] for f in body["fields"])
    r = client.get("/v1/compounds/HD-001/agenda", params={"meeting_on": "someday"},
                   headers=auth["viewer"])
    assert [f["field"] for f in problem(r, 422, "invalid", "Invalid input")["fields"]] \
        == ["query.meeting_on"]


def test_an_unknown_department_is_invalid_too(client, auth):
    compound(client, auth)
    r = client.post("/v1/compounds/HD-001/whistles", json=story.whistle(["navy"]),
                    headers=auth["grid_worker"])
    assert [f["field"] for f in problem(r, 422, "invalid", "Invalid input")["fields"]] \
        == ["departments"]


def test_401_keeps_its_challenge(client):
    r = client.get("/v1/compounds/HD-001")
    problem(r, 401, "unauthorized", "Unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/v1/compounds/HD-001", headers={"Authorization": "Bearer nonsense"})
    assert problem(r, 401, "unauthorized", "Unauthorized")["detail"] == "unknown token"
    assert r.headers["www-authenticate"] == "Bearer"


def test_403_says_who_may(client, auth):
    r = client.post("/v1/compounds", json=story.compound(), headers=auth["viewer"])
    assert "official" in problem(r, 403, "forbidden", "Forbidden")["detail"]


def test_404_unknown_compound(client, auth):
    r = client.get("/v1/compounds/NOPE-1", headers=auth["viewer"])
    assert "NOPE-1" in problem(r, 404, "not-found", "Not found")["detail"]


def test_404_unknown_route(client, auth):
    r = client.get("/v1/no-such-thing", headers=auth["viewer"])
    assert "/v1/no-such-thing" in problem(r, 404, "not-found", "Not found")["detail"]


def test_405_names_the_allowed_methods(client, auth):
    r = client.delete("/v1/compounds/HD-001", headers=auth["admin"])
    problem(r, 405, "method-not-allowed", "Method not allowed")
    assert r.headers["allow"] == "GET"


def test_409_states_the_rule(client, auth):
    compound(client, auth)
    issue = story.whistle(["fire"])
    assert client.post("/v1/compounds/HD-001/whistles", json=issue,
                       headers=auth["grid_worker"]).status_code == 201
    r = client.post(f"/v1/compounds/HD-001/issues/{issue['issue_id']}/ratings",
                    json={"rating": "satisfied"}, headers=auth["grid_worker"])
    body = problem(r, 409, "rule-broken", "Rule broken")
    assert "must be resolved before it is rated" in body["rule"] == body["detail"]


def test_409_a_conflicting_repeat_is_its_own_kind(client, auth):
    compound(client, auth)
    r = client.post("/v1/compounds", json=story.compound(households=9), headers=auth["official"])
    assert "already registered" in problem(r, 409, "conflicting-repeat",
                                           "Conflicting repeat")["rule"]


def test_503_contention_asks_to_retry(settings, clock):
    # A store that allows no attempt meets what many writers at once cause.
    services = bootstrap(dataclasses.replace(settings, write_retries=0), clock=clock)
    try:
        with TestClient(create_app(services)) as client:
            r = client.post("/v1/compounds", json=story.compound(),
                            headers=Tokens(services)["official"])
            assert "retry" in problem(r, 503, "unavailable", "Unavailable")["detail"]
            assert r.headers["retry-after"] == "1"
    finally:
        services.close()


def test_a_bug_is_500_in_the_shape_logged_never_shown(services, caplog):
    app = create_app(services)

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client, \
            caplog.at_level(logging.ERROR, logger="redwhistle.api"):
        r = client.get("/v1/boom")
    body = problem(r, 500, "internal", "Internal error")
    assert "secret" not in r.text and "Traceback" not in r.text
    assert set(body) == {"type", "title", "status", "detail"}
    logged = [rec for rec in caplog.records if rec.name == "redwhistle.api"]
    assert logged and "GET /v1/boom" in logged[0].getMessage()
    assert "secret internals" in str(logged[0].exc_info[1])


def test_the_openapi_documents_the_problem_of_every_error(client):
    doc = client.get("/openapi.json").json()
    for path, operations in doc["paths"].items():
        if path.startswith("/open311/"):
            continue  # GeoReport v2 answers its own errors (docs/open311.md)
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"] == {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path)
                else:
                    assert response["content"]["application/json"]["schema"]["$ref"], \
                        (method, path, status)
            assert {"405", "500"} <= set(operation["responses"]), (method, path)


def test_a_status_without_a_kind_of_ours_is_about_blank(services):
    app = create_app(services)

    @app.get("/v1/teapot")
    def teapot() -> None:
        raise HTTPException(418, detail="short and stout")

    with TestClient(app) as client:
        r = client.get("/v1/teapot")
    assert r.status_code == 418 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {"type": "about:blank", "title": "I'm a Teapot", "status": 418,
                        "detail": "short and stout"}
