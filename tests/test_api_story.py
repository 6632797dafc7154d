"""The life of an issue, end to end through the HTTP API, on SQLite and PostgreSQL."""
from __future__ import annotations

from tests import story


def test_whistle_to_reopen(client, auth, clock):
    r = client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1

    body = story.whistle(["fire", "urban_management"], urgency="urgent")
    r = client.post("/v1/compounds/HD-001/whistles", json=body, headers=auth["grid_worker"])
    assert r.status_code == 201, r.text
    issue = r.json()
    assert issue["report_due_at"].startswith("2026-05-01T11:00:00")  # urgent: 2 hours
    assert issue["resolve_due_at"].startswith("2026-05-02T09:00:00")  # urgent: 24 hours
    assert issue["status"] == "open" and issue["position"] == 2
    path = f"/v1/compounds/HD-001/issues/{body['issue_id']}"

    clock.advance(minutes=30)
    r = client.post(f"{path}/reports", json={"department": "fire", "officer": "Li"},
                    headers=auth["fire"])
    assert r.status_code == 201, r.text
    assert r.json()["reports"]["fire"]["officer"] == "Li"

    r = client.post(f"{path}/progress", json={"department": "fire", "note": "Owners notified"},
                    headers=auth["fire"])
    assert r.status_code == 201
    r = client.post(f"{path}/resolution", json={"department": "fire", "how": "Cars towed"},
                    headers=auth["fire"])
    assert r.status_code == 201 and r.json()["status"] == "resolved"

    r = client.post(f"{path}/ratings", json={"rating": "unsatisfied", "comment": "back again"},
                    headers=auth["grid_worker"])
    assert r.status_code == 201, r.text
    reopened = r.json()
    assert reopened["status"] == "open" and reopened["reopened"] == 1
    assert reopened["ratings"][0]["rating"] == "unsatisfied"

    r = client.post(f"{path}/resolution", json={"department": "urban_management",
                                                "how": "Bollards installed"},
                    headers=auth["urban_management"])
    assert r.status_code == 201
    r = client.post(f"{path}/ratings", json={"rating": "satisfied"}, headers=auth["grid_worker"])
    assert r.status_code == 201 and r.json()["status"] == "resolved"

    state = client.get("/v1/compounds/HD-001", headers=auth["viewer"]).json()
    assert state["open_issues"] == [] and state["issues"] == 1
    # registered, whistle, report, progress, resolved, rated+reopened, resolved, rated
    assert state["version"] == 9


def test_retried_whistle_is_one_event(client, auth):
    client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    body = story.whistle()
    first = client.post("/v1/compounds/HD-001/whistles", json=body, headers=auth["grid_worker"])
    again = client.post("/v1/compounds/HD-001/whistles", json=body, headers=auth["grid_worker"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["issue_id"] == body["issue_id"]
    assert again.json()["version"] == first.json()["version"] == 2
    changed = dict(body, description="something else")
    r = client.post("/v1/compounds/HD-001/whistles", json=changed, headers=auth["grid_worker"])
    assert r.status_code == 409 and "different body" in r.json()["rule"]
    # repeat of a registration and of a report-in are repeats too
    r = client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    assert r.status_code == 200
    r = client.post("/v1/compounds", json=story.compound(households=1), headers=auth["official"])
    assert r.status_code == 409


def test_errors_name_field_and_rule(client, auth):
    client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    r = client.post("/v1/compounds/HD-001/whistles", json=story.whistle(urgency="very"),
                    headers=auth["grid_worker"])
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "urgency"
    r = client.post("/v1/compounds/HD-001/whistles", json=story.whistle(["army"]),
                    headers=auth["grid_worker"])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "departments"
    r = client.post("/v1/compounds/HD-001/whistles", json=dict(story.whistle(), colour="red"),
                    headers=auth["grid_worker"])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "colour"
    r = client.post("/v1/compounds/NOPE/whistles", json=story.whistle(),
                    headers=auth["grid_worker"])
    assert r.status_code == 404
    r = client.post("/v1/compounds/HD-001/issues/nope/reports",
                    json={"department": "fire", "officer": "Li"}, headers=auth["fire"])
    assert r.status_code == 404
    body = story.whistle(["fire"])
    client.post("/v1/compounds/HD-001/whistles", json=body, headers=auth["grid_worker"])
    path = f"/v1/compounds/HD-001/issues/{body['issue_id']}"
    r = client.post(f"{path}/reports", json={"department": "police", "officer": "Zhao"},
                    headers=auth["police"])
    assert r.status_code == 409 and "was not summoned" in r.json()["rule"]
    r = client.post(f"{path}/ratings", json={"rating": "satisfied"}, headers=auth["grid_worker"])
    assert r.status_code == 409 and "must be resolved" in r.json()["rule"]
    version = client.get("/v1/compounds/HD-001", headers=auth["viewer"]).json()["version"]
    assert version == 2  # nothing half-written by the refused requests


def test_who_may_do_what(client, auth, services):
    r = client.post("/v1/compounds", json=story.compound())
    assert r.status_code == 401
    r = client.post("/v1/compounds", json=story.compound(),
                    headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    r = client.post("/v1/compounds", json=story.compound(), headers=auth["grid_worker"])
    assert r.status_code == 403
    other_street = auth.as_("official", street="Beitaipingzhuang")
    r = client.post("/v1/compounds", json=story.compound(), headers=other_street)
    assert r.status_code == 403
    assert client.post("/v1/compounds", json=story.compound(),
                       headers=auth["official"]).status_code == 201
    body = story.whistle(["fire"])
    r = client.post("/v1/compounds/HD-001/whistles", json=body, headers=auth["auditor"])
    assert r.status_code == 403
    wrong_grid = auth.as_("grid_worker", grids=("G2",))
    r = client.post("/v1/compounds/HD-001/whistles", json=body, headers=wrong_grid)
    assert r.status_code == 403
    r = client.post("/v1/compounds/HD-001/whistles", json=dict(body, at="2020-01-01T00:00:00Z"),
                    headers=auth["grid_worker"])
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = client.post("/v1/compounds/HD-001/whistles", json=dict(body, at="2020-01-01T00:00:00Z"),
                    headers=auth["admin"])
    assert r.status_code == 201 and r.json()["blown_at"].startswith("2020-01-01")
    path = f"/v1/compounds/HD-001/issues/{body['issue_id']}/reports"
    r = client.post(path, json={"department": "fire", "officer": "Li"}, headers=auth["police"])
    assert r.status_code == 403
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200
