"""Reads keep to the scopes of writes: outside them a compound, an issue or an
agenda answers 404 as if it did not exist; a viewer reads the figures without
anybody's name (docs/access.md). Through the API, on SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest

from tests import story

A, B = "Xinjiekou", "Beitaipingzhuang"
MEMBERS = [dict(name="Zhang Wei", role="director", party_member=True),
           dict(name="Li Na", role="member", party_member=False)]
OFFICER, OWNER = "Officer Liu", "Manager Sun"


class District:
    """Compounds A-1 (street A, community Huayuan), B-1 (street B, community
    Jimen) and B-2 (street B, community Huayuan: the name recurs); a whistle
    on A-1 summoning fire, reported in, resolved and rated; one on B-1."""

    def __init__(self, client, auth):
        self.client, self.auth, self.position = client, auth, 0
        self.post("/v1/compounds", story.compound("A-1", street=A, community="Huayuan"))
        self.post("/v1/compounds", story.compound("B-1", street=B, community="Jimen"))
        self.post("/v1/compounds", story.compound("B-2", street=B, community="Huayuan"))
        self.issue_a = self.whistle("A-1", ["fire"])
        self.issue_a_g2 = self.whistle("A-1", ["police"], grid="G2")
        self.issue_b = self.whistle("B-1", ["fire"])
        path = f"/v1/compounds/A-1/issues/{self.issue_a}"
        self.post(f"{path}/reports", {"department": "fire", "officer": OFFICER}, auth["fire"])
        self.post(f"{path}/resolution", {"department": "fire", "how": "towed"}, auth["fire"])
        self.post(f"{path}/ratings", {"rating": "satisfied"}, auth["grid_worker"])
        self.post("/v1/compounds/A-1/committee-elections",
                  dict(term_start="2026-01-01", term_end="2031-01-01", members=MEMBERS))
        self.post("/v1/compounds/A-1/joint-meetings", story.meeting(
            held_on="2026-05-01", decisions=[dict(text="Tow the cars", owner=OWNER,
                                                  due_on="2026-05-25")]))
        self.post("/v1/companies", story.company("PC-01"))
        self.post("/v1/companies/PC-01/evaluations",
                  dict(year=2026, level="district", scores=story.scores()))

    def post(self, path: str, body: dict, headers: dict | None = None) -> dict:
        r = self.client.post(path, json=body, headers=headers or self.auth["admin"])
        assert r.status_code == 201, r.text
        self.position = max(self.position, r.json().get("position") or 0)
        return r.json()

    def whistle(self, code: str, departments: list[str], grid: str = "G1") -> str:
        return self.post(f"/v1/compounds/{code}/whistles", story.whistle(departments, grid=grid),
                         self.auth["grid_worker"])["issue_id"]

    def get(self, path: str, headers: dict, **params):
        return self.client.get(path, headers=headers, params=dict(params, after=self.position))

    def agenda(self, path: str, headers: dict):
        return self.get(path, headers, meeting_on="2026-05-20")


@pytest.fixture
def district(client, auth) -> District:
    return District(client, auth)


def test_an_official_of_one_street_reads_nothing_of_another(district, auth):
    d, of_a = district, auth.as_("official", street=A)
    assert d.get("/v1/compounds/A-1", of_a).status_code == 200
    assert d.get(f"/v1/compounds/A-1/issues/{d.issue_a}", of_a).status_code == 200
    assert d.agenda("/v1/compounds/A-1/agenda", of_a).status_code == 200
    assert d.get("/v1/compounds/B-1", of_a).status_code == 404
    assert d.get(f"/v1/compounds/B-1/issues/{d.issue_b}", of_a).status_code == 404
    assert d.agenda("/v1/compounds/B-1/agenda", of_a).status_code == 404
    assert d.agenda("/v1/communities/Jimen/agenda", of_a).status_code == 404
    # Huayuan has compounds on both streets: the official's agenda holds its own.
    huayuan = d.agenda("/v1/communities/Huayuan/agenda", of_a)
    assert huayuan.status_code == 200
    assert huayuan.json()["compounds"] == ["A-1"]
    assert {i["compound_code"] for i in huayuan.json()["items"]} == {"A-1"}
    everyone = d.agenda("/v1/communities/Huayuan/agenda", auth["official"]).json()
    assert everyone["compounds"] == ["A-1", "B-2"]


def test_a_department_reads_only_the_issues_that_summoned_it(district, auth):
    d = district
    assert d.get(f"/v1/compounds/A-1/issues/{d.issue_a}", auth["fire"]).status_code == 200
    assert d.get(f"/v1/compounds/A-1/issues/{d.issue_a}", auth["police"]).status_code == 404
    assert d.get(f"/v1/compounds/A-1/issues/{d.issue_a_g2}", auth["police"]).status_code == 200
    open_for_fire = d.get("/v1/compounds/A-1", auth["fire"]).json()["open_issues"]
    assert [i["issue_id"] for i in open_for_fire] == []  # its one issue is resolved
    open_for_police = d.get("/v1/compounds/A-1", auth["police"]).json()["open_issues"]
    assert [i["issue_id"] for i in open_for_police] == [d.issue_a_g2]
    agenda = d.agenda("/v1/compounds/A-1/agenda", auth["police"]).json()
    assert agenda["items"] and all("police" in i["departments"] for i in agenda["items"])
    assert [i["order"] for i in agenda["items"]] == list(range(1, len(agenda["items"]) + 1))


def test_a_grid_worker_reads_its_street_or_its_grids(district, auth):
    d = district
    on_a = auth.as_("grid_worker", street=A)
    assert d.get("/v1/compounds/A-1", on_a).status_code == 200
    assert d.get("/v1/compounds/B-1", on_a).status_code == 404
    assert d.get(f"/v1/compounds/B-1/issues/{d.issue_b}", on_a).status_code == 404
    assert d.agenda("/v1/compounds/B-1/agenda", on_a).status_code == 404
    g1 = auth.as_("grid_worker", grids=("G1",))
    assert d.get(f"/v1/compounds/A-1/issues/{d.issue_a}", g1).status_code == 200
    assert d.get(f"/v1/compounds/A-1/issues/{d.issue_a_g2}", g1).status_code == 404
    assert d.get("/v1/compounds/A-1", g1).json()["open_issues"] == []
    elsewhere = auth.as_("grid_worker", grids=("G9",))
    assert d.get("/v1/compounds/A-1", elsewhere).status_code == 404
    assert d.agenda("/v1/compounds/A-1/agenda", elsewhere).status_code == 404
    assert d.agenda("/v1/communities/Huayuan/agenda", elsewhere).status_code == 404
    assert d.agenda("/v1/compounds/A-1/agenda", g1).status_code == 200
    assert d.agenda("/v1/communities/Huayuan/agenda", g1).status_code == 404
    on_a_huayuan = d.agenda("/v1/communities/Huayuan/agenda", on_a)
    assert on_a_huayuan.json()["compounds"] == ["A-1"]


def test_a_viewer_reads_the_figures_without_names(district, auth):
    d = district
    path = f"/v1/compounds/A-1/issues/{d.issue_a}"
    as_official = d.get(path, auth["official"]).json()
    grid_worker = as_official["grid_worker"]
    assert as_official["reports"]["fire"]["officer"] == OFFICER
    assert as_official["ratings"][0]["rated_by"] == grid_worker

    r = d.get(path, auth["viewer"])
    assert r.status_code == 200
    issue = r.json()
    assert "grid_worker" not in issue
    assert "officer" not in issue["reports"]["fire"]
    assert "rated_by" not in issue["ratings"][0]
    assert grid_worker not in r.text and OFFICER not in r.text
    assert issue["status"] == "resolved" and issue["departments"] == ["fire"]
    assert issue["reports"]["fire"]["at"] and issue["ratings"][0]["rating"] == "satisfied"

    compound = d.get("/v1/compounds/A-1", auth["viewer"])
    committee = compound.json()["committee"]
    assert [m.get("name") for m in committee["members"]] == [None, None]
    assert [m["role"] for m in committee["members"]] == ["director", "member"]
    assert committee["party_members"] == 1
    assert "Zhang Wei" not in compound.text and "Li Na" not in compound.text
    for staff in ("grid_worker", "fire"):  # staff read what they work with, not residents
        assert "Zhang Wei" not in d.get("/v1/compounds/A-1", auth[staff]).text
    assert "Zhang Wei" in d.get("/v1/compounds/A-1", auth["official"]).text

    company = d.get("/v1/companies/PC-01", auth["viewer"]).json()
    assert "evaluator" not in company["evaluations"][0]
    assert company["evaluations"][0]["total"] == 90
    assert d.get("/v1/companies/PC-01", auth["official"]).json()["evaluations"][0]["evaluator"]

    agenda = d.agenda("/v1/compounds/A-1/agenda", auth["viewer"])
    decision = next(i for i in agenda.json()["items"] if i["kind"] == "decision_due")
    assert OWNER not in json.dumps(agenda.json()) and "Tow the cars" in decision["reason"]
    assert OWNER in d.agenda("/v1/compounds/A-1/agenda", auth["official"]).text


def test_audit_endpoints_answer_only_admin_and_auditor(district, auth):
    for role, status in (("viewer", 403), ("official", 403), ("fire", 403),
                         ("grid_worker", 403), ("auditor", 200), ("admin", 200)):
        assert district.get("/v1/audit/events", auth[role]).status_code == status, role
        assert district.get("/v1/audit/compounds/A-1/events",
                            auth[role]).status_code == status, role


def test_dashboards_and_rankings_stay_open_to_readers(district, auth):
    d = district
    r = d.get("/v1/dashboard/response-rates", auth["viewer"], **{"from": "2026-05-01",
                                                                 "to": "2026-05-02"})
    assert r.status_code == 200 and r.json()["rows"]
    assert d.get("/v1/rankings/2026", auth["viewer"]).status_code == 200


SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def test_every_answer_carries_the_security_headers(district, client, auth):
    answers = {200: district.get("/v1/compounds/A-1", auth["viewer"]),
               401: client.get("/v1/compounds/A-1"),
               404: district.get("/v1/compounds/B-1", auth.as_("official", street=A)),
               422: client.post("/v1/compounds", json={}, headers=auth["admin"])}
    for status, r in answers.items():
        assert r.status_code == status
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value, (status, name)
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["X-Frame-Options"] == "DENY"
    csp = docs.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
