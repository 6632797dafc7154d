"""Hostile input cannot stop Red Whistle (issue 11): the API refuses what a
store or a view cannot hold, naming the field; what slips past it anyway (a
careless importer writing through the service layer) is set aside by the
views it would stop, and every view goes on. On SQLite and PostgreSQL."""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import datetime, timezone

import psycopg
import pytest
from pydantic import ValidationError

from api import schemas
from projections.feed import View, feed, rebuild, tracked_position
from projections.registry import all_views
from projections.set_aside import set_aside, transient
from tests import story

NUL = "a\x00b"


def fields(r) -> list[str]:
    """The names of the fields a 422 names, without the `query.`/`path.` part."""
    assert r.status_code == 422, r.text
    return [f["field"].split(".")[-1] for f in r.json()["fields"]]


# -- the bounds of the bodies, without a store -----------------------------------
@pytest.mark.parametrize("model, body, field", [
    (schemas.WhistleIn, story.whistle(description=NUL), "description"),
    (schemas.WhistleIn, story.whistle(description="bell\x07"), "description"),
    (schemas.WhistleIn, story.whistle(description="x\ud800"), "description"),
    (schemas.WhistleIn, story.whistle(grid="G\n1"), "grid"),
    (schemas.WhistleIn, story.whistle(departments=["fire"] * 51), "departments"),
    (schemas.CompoundIn, story.compound(name=NUL), "name"),
    (schemas.CompoundIn, story.compound(households=10**30), "households"),
    (schemas.CompoundIn, story.compound(grids=[f"G{i}" for i in range(201)]), "grids"),
    (schemas.ReportIn, dict(department="fire", officer=NUL), "officer"),
    (schemas.SurveyIn, dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="2026-05-01",
                            respondents=2**31, score=80), "respondents"),
    (schemas.SurveyIn, dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="2026-05-01",
                            respondents=0, score=80), "respondents"),
    (schemas.SurveyIn, dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="2026-05-01",
                            respondents=10, score=float("nan")), "score"),
    (schemas.SurveyIn, dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="9999-12-31",
                            respondents=10, score=80), "surveyed_on"),
    (schemas.SurveyIn, dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="2026-05-01",
                            respondents=10, score=80, at="9999-12-31T00:00:00+00:00"), "at"),
    (schemas.MeetingIn, story.meeting(held_on="0001-01-01"), "held_on"),
    (schemas.MeetingIn, story.meeting(issues_discussed=[str(uuid.uuid4())] * 201),
     "issues_discussed"),
    (schemas.ElectionIn, dict(story.committee(), term_end="2101-01-01"), "term_end"),
])
def test_each_body_bound_names_its_field(model, body, field):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert field in [str(e["loc"][0]) for e in caught.value.errors()]


def test_bounds_keep_what_is_ordinary():
    whistle = schemas.WhistleIn.model_validate(
        story.whistle(description="Line one\n\tline two\r\n水管漏水"))
    assert whistle.description.endswith("水管漏水")
    survey = schemas.SurveyIn.model_validate(dict(
        survey_id=str(uuid.uuid4()), year=2100, surveyed_on="2100-12-31",
        respondents=1_000_000, score=100, at="2000-01-01T00:00:00+08:00"))
    assert survey.respondents == 1_000_000


# -- the API refuses each class of poison ----------------------------------------
def test_api_refuses_poison_naming_the_field(client, auth):
    r = client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    assert r.status_code == 201, r.text
    assert fields(client.post("/v1/compounds", json=story.compound(code="HD-002", name=NUL),
                              headers=auth["official"])) == ["name"]
    assert fields(client.post("/v1/compounds/HD-001/whistles",
                              json=story.whistle(description=NUL),
                              headers=auth["grid_worker"])) == ["description"]
    whistle = story.whistle()
    r = client.post("/v1/compounds/HD-001/whistles", json=whistle, headers=auth["grid_worker"])
    assert r.status_code == 201, r.text
    issue = f"/v1/compounds/HD-001/issues/{whistle['issue_id']}"
    assert fields(client.post(f"{issue}/reports", json=dict(department="fire", officer=NUL),
                              headers=auth["fire"])) == ["officer"]
    survey = dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="2026-05-01",
                  respondents=2**31, score=80)
    assert fields(client.post("/v1/compounds/HD-001/surveys", json=survey,
                              headers=auth["official"])) == ["respondents"]
    survey.update(respondents=10, at="9999-12-31T00:00:00+00:00")
    assert fields(client.post("/v1/compounds/HD-001/surveys", json=survey,
                              headers=auth["admin"])) == ["at"]
    # a path that is no code, a community that is no name
    assert fields(client.get("/v1/compounds/HD%00001", headers=auth["viewer"])) == ["code"]
    assert fields(client.get("/v1/communities/Hua%00yuan/agenda", headers=auth["viewer"],
                             params=dict(meeting_on="2026-05-05"))) == ["community"]
    # nothing of it reached the log: registered, whistle
    assert services_head(client) == 2


def services_head(client) -> int:
    return client.app.state.services.app.recorder.max_notification_id() or 0


# -- what slips past the API is set aside, and every view goes on ------------------
def _whistle(services, code="HD-001", **over):
    body = story.whistle(unit=None, **over)
    urgency = body.pop("urgency")
    services.governance.blow_whistle(code, grid_worker="importer", urgency=urgency, **body)
    return body["issue_id"]


def _survey(services, **over):
    body = dict(survey_id=str(uuid.uuid4()), year=2026, surveyed_on="2026-05-01",
                respondents=10, score=80.0)
    services.governance.survey_satisfaction("HD-001", **dict(body, **over))


def _officer(services):
    issue_id = _whistle(services)
    services.governance.report_in("HD-001", issue_id, department="fire", officer=NUL)


FAR = datetime(9999, 12, 31, tzinfo=timezone.utc)
EVERY = {view.name for view in all_views()}
# (writes the poison as an importer would; the views that set it aside on
# SQLite, on PostgreSQL; the fire department's summonses on 1 May after it and
# one good whistle). SQLite's TEXT holds a NUL and its INTEGER 2^31; a NUL
# reaches PostgreSQL in the agenda's tables (descriptions, names, officers) and
# in the issues view's, which Open311 reads too (descriptions, compound names).
POISONS = {
    "nul_in_description": (lambda s: _whistle(s, description=NUL), set(),
                           {"agenda", "issues"}, 2),
    "nul_in_compound_name": (
        lambda s: s.governance.register_compound(**story.compound(code="HD-002", name=NUL)),
        set(), {"agenda", "issues"}, 1),
    "nul_in_officer": (_officer, set(), {"agenda"}, 2),
    "huge_respondents": (lambda s: _survey(s, respondents=10**30), {"rankings"}, {"rankings"},
                         1),
    "year_9999": (lambda s: _survey(s, at=FAR), EVERY, EVERY, 1),
}


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_poison_is_set_aside_and_views_go_on(poison, client, auth, services, database_url):
    write, on_sqlite, on_postgres, fire_summonses = POISONS[poison]
    expected = on_postgres if database_url.startswith("postgresql") else on_sqlite
    r = client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    assert r.status_code == 201, r.text
    write(services)  # the follower of the client's app folds it (or sets it aside) meanwhile
    poison_at = services.app.recorder.max_notification_id()

    good = story.whistle()
    r = client.post("/v1/compounds/HD-001/whistles", json=good, headers=auth["grid_worker"])
    assert r.status_code == 201, r.text
    after = r.json()["position"]

    started = time.monotonic()
    agenda = client.get("/v1/compounds/HD-001/agenda", headers=auth["viewer"],
                        params=dict(meeting_on="2026-05-05", after=after))
    assert agenda.status_code == 200, agenda.text
    # not reported in by 2 May 09:00: one item per department summoned
    assert [i["departments"] for i in agenda.json()["items"]
            if i["issue_id"] == good["issue_id"]] == [["fire"], ["urban_management"]]
    rates = client.get("/v1/dashboard/response-rates", headers=auth["viewer"],
                       params={"from": "2026-05-01", "to": "2026-05-02", "after": after})
    assert rates.status_code == 200, rates.text
    fire = [row for row in rates.json()["rows"] if row["key"] == "fire"]
    assert fire[0]["summonses"] == fire_summonses
    assert client.get("/v1/rankings/2026", headers=auth["viewer"],
                      params=dict(after=after)).status_code == 200
    assert time.monotonic() - started < 5

    aside = set_aside(services.log)
    assert {(a["view"], a["position"]) for a in aside} == {(v, poison_at) for v in expected}
    assert all(a["error"] and a["topic"].startswith("domain.") for a in aside)
    assert client.get("/health", headers=auth["auditor"]).json()["set_aside"] == len(expected)

    # a rebuild goes through, and finds the same events to set aside
    assert rebuild(services.log, all_views()) == after
    assert {(a["view"], a["position"]) for a in set_aside(services.log)} == \
        {(v, poison_at) for v in expected}
    rates = client.get("/v1/dashboard/response-rates", headers=auth["viewer"],
                       params={"from": "2026-05-01", "to": "2026-05-02"})
    assert [row["summonses"] for row in rates.json()["rows"] if row["key"] == "fire"] == \
        [fire_summonses]


# -- transient errors never set an event aside -------------------------------------
class Failing(View):
    name = "failing"
    tables = ()

    def __init__(self, error: Exception) -> None:
        self.error = error

    def create_tables(self, db, cur, prefix):
        pass

    def apply(self, db, cur, prefix, batch):
        raise self.error


@pytest.mark.parametrize("error", [
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.OperationalError("server closed the connection unexpectedly"),
    sqlite3.OperationalError("database is locked"),
], ids=["serialization", "connection", "locked"])
def test_transient_errors_stop_the_batch_and_set_nothing_aside(error, services):
    assert transient(error)
    _whistle_ready(services)
    with pytest.raises(Exception) as raised:  # the library may wrap the driver's error
        feed(services.log, Failing(error))
    assert error in (raised.value, raised.value.__cause__)
    with services.db.transaction(commit=False) as cur:
        assert tracked_position(services.db, cur, "failing") == 0
    assert set_aside(services.log) == []


def test_content_errors_are_not_transient():
    assert not transient(ValueError("year 10000 is out of range"))
    assert not transient(psycopg.DataError("PostgreSQL text fields cannot contain NUL"))
    assert not transient(psycopg.errors.NumericValueOutOfRange("out of range for integer"))
    assert not transient(psycopg.errors.ProgramLimitExceeded("index row size exceeds"))


def test_one_bad_event_among_many_is_found_and_only_it_set_aside(services):
    """A view failing on one event of a batch of 40 folds the other 39."""
    for i in range(40):
        services.governance.register_company(code=f"PC-{i:02}", name=f"P{i}",
                                             party_organisation=False)
    seen = Picky(poison=17)
    services.db.execute(f"CREATE TABLE {seen.table(services.db, '', 'seen')} "
                        "(pos BIGINT PRIMARY KEY)")
    assert feed(services.log, seen) == 40
    assert seen.positions(services) == [p for p in range(1, 41) if p != 17]
    assert [(a["view"], a["position"]) for a in set_aside(services.log)] == [("picky", 17)]
    assert "ValueError: cannot fold 17" in set_aside(services.log)[0]["error"]


class Picky(View):
    name = "picky"
    tables = ("seen",)

    def __init__(self, poison: int) -> None:
        self.poison = poison

    def create_tables(self, db, cur, prefix):
        pass

    def apply(self, db, cur, prefix, batch):
        for pos, _ in batch:  # rows before the poison are written, then rolled back
            cur.execute(f"INSERT INTO {self.table(db, prefix, 'seen')} (pos) VALUES (?)", (pos,))
            if pos == self.poison:
                raise ValueError(f"cannot fold {pos}")

    def positions(self, services):
        return [r[0] for r in services.db.fetchall(
            f"SELECT pos FROM {self.table(services.db, '', 'seen')} ORDER BY pos")]


def _whistle_ready(services):
    services.governance.register_compound(**story.compound())


# -- read-side dates outside the window are a 422 naming the parameter -------------
READS = [
    ("/v1/compounds/HD-001/agenda", dict(meeting_on="0001-01-01"), "meeting_on", "viewer"),
    ("/v1/compounds/HD-001/agenda", dict(meeting_on="9999-12-31"), "meeting_on", "viewer"),
    ("/v1/communities/Huayuan/agenda", dict(meeting_on="9999-12-31"), "meeting_on", "viewer"),
    ("/v1/dashboard/response-rates", {"from": "0001-01-01", "to": "9999-12-31"}, "from",
     "viewer"),
    ("/v1/dashboard/response-rates", {"from": "2026-05-01", "to": "9999-12-31"}, "to", "viewer"),
    ("/v1/dashboard/response-rates",
     {"from": "2026-05-01", "to": "2026-05-02", "as_of": "0001-01-01"}, "as_of", "viewer"),
    ("/v1/rankings/9999", {}, "year", "viewer"),
    ("/v1/audit/compounds/HD-001", dict(as_of="9999-12-31"), "as_of", "auditor"),
    ("/v1/audit/compounds/HD-001", dict(as_of="0001-01-01T00:00:00"), "as_of", "auditor"),
    ("/v1/audit/compounds/HD-001", dict(as_of="9" * 30), "as_of", "auditor"),
    ("/v1/audit/views/dashboard",
     {"as_of": "9999-12-31", "from": "2026-05-01", "to": "2026-05-02"}, "as_of", "auditor"),
    ("/v1/audit/views/dashboard",
     {"from": "2026-05-01", "to": "2026-05-02", "now": "9999-12-31T00:00:00Z"}, "now",
     "auditor"),
    ("/v1/audit/views/dashboard", {"from": "0001-01-01", "to": "2026-05-02"}, "from",
     "auditor"),
    ("/v1/audit/views/agenda", dict(code="HD-001", meeting_on="9999-12-31"), "meeting_on",
     "auditor"),
    ("/v1/audit/views/rankings", dict(year="99999"), "year", "auditor"),
    ("/v1/audit/views/agenda", dict(code="HD\x00001", meeting_on="2026-05-05"), "code",
     "auditor"),
    ("/v1/audit/views/community-agenda", dict(community="Hua\x00yuan", meeting_on="2026-05-05"),
     "community", "auditor"),
    ("/v1/audit/events", dict(after=str(2**63)), "after", "auditor"),
]


def test_read_side_dates_outside_the_window_are_422(client, auth):
    registered = client.post("/v1/compounds", json=story.compound(), headers=auth["official"])
    assert registered.status_code == 201
    for path, params, field, role in READS:
        r = client.get(path, params=params, headers=auth[role])
        assert field in fields(r), (path, params, r.text)
        # the same connection goes on answering
        assert client.get("/v1/compounds/HD-001", headers=auth["viewer"]).status_code == 200
    ok = client.get("/v1/compounds/HD-001/agenda", headers=auth["viewer"],
                    params=dict(meeting_on="2100-12-31", after=registered.json()["position"]))
    assert ok.status_code == 200, ok.text


# -- bodies are UTF-8 ----------------------------------------------------------------
def test_bodies_in_another_charset_are_415(client, auth):
    body = story.compound(name="Café garden")
    for charset, encoded in [("latin-1", json.dumps(body, ensure_ascii=False).encode("latin-1")),
                             ("utf-16", json.dumps(body).encode("utf-16"))]:
        r = client.post("/v1/compounds", content=encoded, headers={
            **auth["official"], "Content-Type": f"application/json; charset={charset}"})
        assert r.status_code == 415, r.text
        assert charset in r.text
    assert services_head(client) == 0
    r = client.post("/v1/compounds", content=json.dumps(body, ensure_ascii=False).encode(),
                    headers={**auth["official"],
                             "Content-Type": "application/json; charset=UTF-8"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Café garden"
