"""The auditors' API, on SQLite and PostgreSQL: who may read, the log in order,
time travel of a compound, and every published figure recomputed as of a past
moment equal to what was live at that moment."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from fastapi.encoders import jsonable_encoder

from audit.cuts import cut_at
from tests import story

CST = "+08:00"


class District:
    """A small district written through the API, as admin (explicit times)."""

    def __init__(self, client, auth):
        self.client, self.auth = client, auth

    def post(self, path: str, body: dict, at: str | None = None) -> dict:
        if at:
            body = dict(body, at=at + CST)
        r = self.client.post(path, json=body, headers=self.auth["admin"])
        assert r.status_code in (200, 201), r.text
        return r.json()

    def whistle(self, code: str, at: str, departments=("fire",), **over) -> str:
        body = story.whistle(list(departments), **over)
        self.post(f"/v1/compounds/{code}/whistles", body, at)
        return body["issue_id"]

    def act(self, code: str, issue: str, action: str, body: dict, at: str) -> None:
        self.post(f"/v1/compounds/{code}/issues/{issue}/{action}", body, at)

    def first_part(self) -> dict[str, str]:
        for code, name in (("PC-01", "Anhe"), ("PC-02", "Binhe")):
            self.post("/v1/companies", story.company(code, name=name))
        issues = {}
        for code, company in (("HD-001", "PC-01"), ("HD-002", "PC-02")):
            self.post("/v1/compounds", story.compound(code), "2026-01-05T09:00:00")
            self.post(f"/v1/compounds/{code}/property-contracts",
                      {"company_code": company, "starts_on": "2026-01-06",
                       "ends_on": "2026-08-31"}, "2026-01-06T09:00:00")
        self.post("/v1/compounds/HD-001/committee-elections", story.committee(party=1, others=4),
                  "2026-02-01T09:00:00")
        issues["a"] = self.whistle("HD-001", "2026-03-02T10:00:00", ("fire", "police"))
        self.act("HD-001", issues["a"], "reports", {"department": "fire", "officer": "Li"},
                 "2026-03-02T11:00:00")
        issues["b"] = self.whistle("HD-002", "2026-03-03T10:00:00", urgency="urgent")
        for company, level, each in (("PC-01", "street", 18), ("PC-01", "district", 17),
                                     ("PC-02", "street", 19), ("PC-02", "district", 19)):
            self.post(f"/v1/companies/{company}/evaluations",
                      dict(year=2026, level=level, scores=story.scores(each)))
        for code, score in (("HD-001", 91), ("HD-002", 85)):
            self.post(f"/v1/compounds/{code}/surveys",
                      dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="2026-03-10",
                           respondents=100, score=score), "2026-03-10T09:00:00")
        return issues

    def second_part(self, issues: dict[str, str]) -> None:
        self.act("HD-001", issues["a"], "reports", {"department": "police", "officer": "Wu"},
                 "2026-03-04T09:00:00")
        self.act("HD-001", issues["a"], "resolution", {"department": "fire", "how": "cleared"},
                 "2026-03-05T09:00:00")
        self.act("HD-001", issues["a"], "ratings", {"rating": "unsatisfied"},
                 "2026-03-06T09:00:00")
        self.act("HD-002", issues["b"], "reports", {"department": "fire", "officer": "Li"},
                 "2026-03-04T09:00:00")
        self.whistle("HD-002", "2026-03-07T10:00:00", ("water",), category="water_supply")
        self.post("/v1/compounds/HD-002/incidents",
                  dict(incident_id=str(uuid.uuid4()), kind="safety_accident",
                       occurred_on="2026-03-08", description="fall", company_code="PC-02"),
                  "2026-03-08T09:00:00")


@pytest.fixture
def district(client, auth) -> District:
    return District(client, auth)


def test_only_auditors_and_admin_may_read(client, auth):
    client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    paths = ["/v1/audit/events", "/v1/audit/compounds/HD-001/events",
             "/v1/audit/compounds/HD-001?as_of=1", "/v1/audit/views", "/v1/audit/chain",
             "/v1/audit/verify"]
    for path in paths:
        for who in ("viewer", "official", "grid_worker", "fire"):
            assert client.get(path, headers=auth[who]).status_code == 403, (path, who)
        assert client.get(path).status_code == 401
        for who in ("auditor", "admin"):
            r = client.get(path, headers=auth[who])
            assert r.status_code == 200, (path, who, r.text)


def test_global_log_in_order_paged_by_position(client, auth):
    client.post("/v1/compounds", json=story.compound("HD-001"), headers=auth["official"])
    client.post("/v1/compounds", json=story.compound("HD-002"), headers=auth["official"])
    for _ in range(3):
        client.post("/v1/compounds/HD-001/whistles", json=story.whistle(),
                    headers=auth["grid_worker"])
    seen, after = [], 0
    while True:
        page = client.get("/v1/audit/events", params={"after": after, "limit": 2},
                          headers=auth["auditor"]).json()
        if not page["events"]:
            break
        assert len(page["events"]) <= 2 and page["head"] == 5
        seen += page["events"]
        after = page["next_after"]
    assert [e["position"] for e in seen] == [1, 2, 3, 4, 5]
    assert seen[0]["topic"] == "domain.compound:Compound.Registered"
    assert seen[0]["state"]["code"] == "HD-001" and seen[0]["originator_version"] == 1
    r = client.get("/v1/audit/events", params={"limit": 0}, headers=auth["auditor"])
    assert r.status_code == 422
    # the chain digest shows once the sealer has chained the events
    from audit.sealer import Sealer
    svc = client.app.state.services
    Sealer(svc.chain, svc.settings, svc.governance.clock).seal_now()
    page = client.get("/v1/audit/events", headers=auth["auditor"]).json()
    assert all(len(e["digest"]) == 64 for e in page["events"])

    stream = client.get("/v1/audit/compounds/HD-001/events", headers=auth["auditor"]).json()
    assert [e["originator_version"] for e in stream["events"]] == [1, 2, 3, 4]
    assert [e["position"] for e in stream["events"]] == [1, 3, 4, 5]
    assert client.get("/v1/audit/compounds/NOPE/events",
                      headers=auth["auditor"]).status_code == 404


def test_compound_as_it_stood(client, auth, clock):
    client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    first = story.whistle()
    client.post("/v1/compounds/HD-001/whistles", json=first, headers=auth["grid_worker"])
    moment = clock.advance(seconds=1)  # positions 1, 2 were recorded a second before
    clock.advance(seconds=1)
    client.post(f"/v1/compounds/HD-001/issues/{first['issue_id']}/reports",
                json={"department": "fire", "officer": "Li"}, headers=auth["fire"])
    client.post("/v1/compounds/HD-001/whistles", json=story.whistle(),
                headers=auth["grid_worker"])
    then = client.get("/v1/audit/compounds/HD-001", params={"as_of": moment.isoformat()},
                      headers=auth["auditor"])
    assert then.status_code == 200, then.text
    body = then.json()
    assert body["version"] == 2 and body["issues"] == 1 and body["position"] == 2
    assert [i["issue_id"] for i in body["open_issues"]] == [first["issue_id"]]
    assert body["open_issues"][0]["reports"] == {}  # the report came later
    now = client.get("/v1/compounds/HD-001", headers=auth["viewer"]).json()
    assert now["version"] == 4 and now["issues"] == 2
    # as_of also takes a position; before registration there is no compound
    assert client.get("/v1/audit/compounds/HD-001", params={"as_of": "1"},
                      headers=auth["auditor"]).json()["version"] == 1
    r = client.get("/v1/audit/compounds/HD-001", params={"as_of": "2000-01-01T00:00:00Z"},
                   headers=auth["auditor"])
    assert r.status_code == 404
    r = client.get("/v1/audit/compounds/HD-001", params={"as_of": "last tuesday"},
                   headers=auth["auditor"])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "as_of"


def settle(services, follower) -> None:
    """Waits for the follower thread the client runs (calling catch_up() beside
    it would feed the same batch twice at once)."""
    assert follower.wait_for(services.app.recorder.max_notification_id() or 0, timeout=20)


def _live(services, follower, now: datetime) -> dict:
    """Every figure as the live views show it."""
    from projections.agenda.query import agenda_for_community, agenda_for_compound
    from projections.dashboard.query import parse_bound, response_rates
    from projections.rankings.query import rankings
    settle(services, follower)
    lo, hi = parse_bound("2026-03-01"), parse_bound("2026-04-01")
    return jsonable_encoder(dict(
        dashboard={by: response_rates(services.log, "", lo, hi, by, now,
                                      services.settings.departments)
                   for by in ("department", "compound")},
        agenda=agenda_for_compound(services.log, "", "HD-001", "2026-03-20"),
        community=agenda_for_community(services.log, "", "Huayuan", "2026-03-20"),
        rankings=rankings(services.log, "", 2026)))


def _as_of(client, auth, moment: datetime, now: datetime) -> dict:
    def get(name: str, **params) -> dict:
        r = client.get(f"/v1/audit/views/{name}", headers=auth["auditor"],
                       params=dict(params, as_of=moment.isoformat(), now=now.isoformat()))
        assert r.status_code == 200, r.text
        return r.json()["figure"]
    return dict(
        dashboard={by: get("dashboard", **{"from": "2026-03-01", "to": "2026-04-01", "by": by})
                   for by in ("department", "compound")},
        agenda=get("agenda", code="HD-001", meeting_on="2026-03-20"),
        community=get("community-agenda", community="Huayuan", meeting_on="2026-03-20"),
        rankings=get("rankings", year=2026))


def test_every_figure_as_of_a_past_moment_equals_what_was_live(client, auth, district,
                                                               services, follower, clock):
    issues = district.first_part()
    now = datetime(2026, 3, 9, 12, tzinfo=timezone.utc)
    live_then = _live(services, follower, now)
    moment = clock.advance(seconds=1)  # after the first part was recorded...
    clock.advance(seconds=1)  # ...and before the second
    district.second_part(issues)
    live_now = _live(services, follower, now)
    for name in live_then:  # the later events changed every figure...
        assert live_now[name] != live_then[name], name
    assert _as_of(client, auth, moment, now) == live_then  # ...but not the past
    assert _as_of(client, auth, clock.now, now) == live_now
    # the scratch tables are gone
    from projections.feed import tracking_table
    keys = [r[0] for r in services.db.fetchall(f"SELECT view FROM {tracking_table(services.db)}")]
    assert sorted(keys) == sorted(v.name for v in follower.views)


def test_view_as_of_csv_and_errors(client, auth, district, services, follower):
    district.first_part()
    r = client.get("/v1/audit/views", headers=auth["auditor"])
    names = {v["name"] for v in r.json()["views"]}
    assert {"dashboard", "agenda", "community-agenda", "rankings"} <= names
    r = client.get("/v1/audit/views/rankings", params={"year": 2026, "format": "csv"},
                   headers=auth["auditor"])
    assert r.status_code == 200 and r.content.decode("utf-8-sig").startswith("rank,code,name")
    published = client.get("/v1/rankings/2026", params={"format": "csv"},
                           headers=auth["viewer"])
    settle(services, follower)
    published = client.get("/v1/rankings/2026", params={"format": "csv"},
                           headers=auth["viewer"])
    assert r.text == published.text
    r = client.get("/v1/audit/views/nope", headers=auth["auditor"])
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = client.get("/v1/audit/views/rankings", headers=auth["auditor"])
    assert r.status_code == 422 and "year" in r.json()["fields"][0]["reason"]
    assert r.json()["fields"][0]["field"] == "query"
    r = client.get("/v1/audit/views/rankings", params={"year": 2026, "colour": "red"},
                   headers=auth["auditor"])
    assert r.status_code == 422 and "colour" in r.json()["fields"][0]["reason"]
    r = client.get("/v1/audit/views/rankings", params={"year": "soon"}, headers=auth["auditor"])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "year"
    r = client.get("/v1/audit/views/agenda", params={"code": "NOPE", "meeting_on": "2026-03-20"},
                   headers=auth["auditor"])
    assert r.status_code == 404
    # a figure before anything was recorded is empty, not the whole log
    r = client.get("/v1/audit/views/dashboard", headers=auth["auditor"],
                   params={"from": "2026-03-01", "to": "2026-04-01", "as_of": "0"})
    assert r.status_code == 200 and all(row["summonses"] == 0 for row in r.json()["figure"])


def test_chain_endpoint_and_health_probe(client, auth, services):
    client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    from audit.sealer import Sealer
    Sealer(services.chain, services.settings, services.governance.clock).seal_now()
    chain = client.get("/v1/audit/chain", headers=auth["auditor"]).json()
    assert chain["head"] == chain["chained"] == 1 and chain["seals"] == 1
    detailed = client.get("/health", headers=auth["auditor"]).json()
    assert detailed["audit"]["last_seal"]["position"] == 1
    verdict = client.get("/v1/audit/verify", headers=auth["auditor"]).json()
    assert verdict["ok"] and verdict["events"] == 1


def test_resolve_uses_the_recording_time_not_the_time_of_fact(services, clock):
    """An admin may import a fact with a past `at`; as_of is about when the
    log recorded it, so an auditor sees what could have been published."""
    services.governance.register_compound(**story.compound(), at=datetime(2020, 1, 1,
                                                                          tzinfo=timezone.utc))
    assert cut_at(services.chain, "2021-01-01T00:00:00Z").position == 0
    assert cut_at(services.chain, clock.now.isoformat()).position == 1
