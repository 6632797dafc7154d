"""The joint-meeting agenda, built from a known history through the API and
read as of meeting dates, on SQLite and PostgreSQL. Times are written in the
district's local time (UTC+8); the agenda's cut-off is 00:00 of the meeting day.

One module, though long: every test reads the one history below, meeting by
meeting; split, each file would have to tell it again."""
from __future__ import annotations

import csv
import io

import pytest

from api.responses import Agenda
from projections.agenda.query import agenda_for_community, agenda_for_compound
from projections.agenda.view import AgendaView
from projections.feed import drop, rebuild
from tests import story
from tests.views import rebuilt_and_fed

CST = "+08:00"


class History:
    """Writes through the API as admin with explicit times; remembers the
    last log position so reads can ask for ?after=."""

    def __init__(self, client, auth, services):
        self.client, self.auth, self.services = client, auth, services
        self.position = 0

    def post(self, path: str, body: dict, at: str | None = None) -> dict:
        if at:
            body = dict(body, at=at + CST)
        r = self.client.post(path, json=body, headers=self.auth["admin"])
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json().get("position") or 0)
        return r.json()

    def compound(self, code: str, community: str = "Huayuan", **over) -> None:
        self.post("/v1/compounds", story.compound(code, community=community, **over),
                  "2026-01-01T09:00:00")

    def whistle(self, code: str, at: str, departments: list[str], category: str,
                urgency: str = "normal", description: str | None = None) -> str:
        body = story.whistle(departments, category=category, urgency=urgency,
                             description=description or f"{category} at {at}")
        self.post(f"/v1/compounds/{code}/whistles", body, at)
        return body["issue_id"]

    def issue(self, code: str, issue_id: str, action: str, body: dict, at: str) -> None:
        self.post(f"/v1/compounds/{code}/issues/{issue_id}/{action}", body, at)

    def report(self, code: str, issue_id: str, department: str, at: str) -> None:
        self.issue(code, issue_id, "reports", {"department": department, "officer": "Li"}, at)

    def resolve(self, code: str, issue_id: str, department: str, at: str) -> None:
        self.issue(code, issue_id, "resolution", {"department": department, "how": "fixed"}, at)

    def rate(self, code: str, issue_id: str, rating: str, at: str) -> None:
        self.issue(code, issue_id, "ratings", {"rating": rating}, at)

    def escalate(self, code: str, issue_id: str, at: str) -> None:
        from datetime import datetime
        outcome = self.services.governance.escalate_due(
            code, issue_id, at=datetime.fromisoformat(at + CST))
        assert outcome.created
        self.position = max(self.position, outcome.position)

    def agenda(self, path: str, meeting_on: str, **params) -> dict:
        r = self.client.get(path, params=dict(meeting_on=meeting_on, after=self.position,
                                              **params), headers=self.auth["official"])
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def history(client, auth, services) -> History:
    return History(client, auth, services)


def build_district(h: History) -> dict[str, str]:
    """HD-001 carries one of every kind; HD-002 (same community) has no
    property company and a whistle nobody answered; HD-003 is elsewhere."""
    ids: dict[str, str] = {}
    h.post("/v1/companies", story.company("PC-01", name="Jinhui Property"),
           "2026-01-01T08:00:00")
    h.compound("HD-001")
    h.compound("HD-002")
    h.compound("HD-003", community="Zhanlan")
    h.post("/v1/compounds/HD-001/property-contracts",
           {"company_code": "PC-01", "starts_on": "2024-07-01", "ends_on": "2026-06-30"},
           "2026-01-02T09:00:00")
    committee = story.committee(party=1, others=2)
    committee.update(term_start="2023-07-01", term_end="2026-07-01")
    h.post("/v1/compounds/HD-001/committee-elections", committee, "2026-01-03T09:00:00")

    # not reported: urban management never reports before the meeting (it
    # reports the day after), fire did report.
    a = ids["not_reported"] = h.whistle("HD-001", "2026-05-18T09:00:00",
                                        ["fire", "urban_management"], "blocked_fire_lane",
                                        description="Cars block the fire lane by building 3")
    h.report("HD-001", a, "fire", "2026-05-18T10:00:00")
    h.report("HD-001", a, "urban_management", "2026-05-21T10:00:00")
    # escalated: urgent, police did not report within 2 hours.
    b = ids["escalated"] = h.whistle("HD-001", "2026-05-19T08:00:00", ["police"],
                                     "public_security", urgency="urgent",
                                     description="Broken lock on the back gate")
    h.escalate("HD-001", b, "2026-05-19T10:30:00")
    # overdue: reported, never resolved, due 2026-05-17 09:00.
    c = ids["overdue"] = h.whistle("HD-001", "2026-05-10T09:00:00", ["housing"], "leak",
                                   description="Roof leaks in building 5")
    h.report("HD-001", c, "housing", "2026-05-10T12:00:00")
    # unsatisfied: resolved, rated unsatisfied, reopened (new due 2026-05-22).
    d = ids["unsatisfied"] = h.whistle("HD-001", "2026-05-01T09:00:00", ["water"],
                                       "water_supply", description="Pump fails at night")
    h.report("HD-001", d, "water", "2026-05-01T10:00:00")
    h.resolve("HD-001", d, "water", "2026-05-03T09:00:00")
    h.rate("HD-001", d, "unsatisfied", "2026-05-15T09:00:00")
    # resolved and rated satisfied: no item.
    e = h.whistle("HD-001", "2026-05-02T09:00:00", ["police"], "noise")
    h.report("HD-001", e, "police", "2026-05-02T10:00:00")
    h.resolve("HD-001", e, "police", "2026-05-02T12:00:00")
    h.rate("HD-001", e, "satisfied", "2026-05-02T13:00:00")
    # recurring: parking disorder three times within 90 days (and once before).
    parking = []
    for day in ("2026-02-01", "2026-03-01", "2026-04-01", "2026-05-05"):
        p = h.whistle("HD-001", f"{day}T09:00:00", ["urban_management"], "parking_disorder")
        h.report("HD-001", p, "urban_management", f"{day}T10:00:00")
        h.resolve("HD-001", p, "urban_management", f"{day}T11:00:00")
        parking.append(p)
    ids["parking"] = ",".join(parking[1:])
    # after the cut-off: not on the agenda of 2026-05-20.
    h.whistle("HD-001", "2026-05-20T10:00:00", ["fire"], "flying_wire_charging")

    ids["before_meetings"] = h.position
    # decisions: d1 followed up at the meeting of 05-05; d2 overdue; d3 due
    # within 14 days; d4 later than that.
    first = story.meeting(held_on="2026-04-10", decisions=[
        dict(text="Paint the fire lane", owner="PC-01", due_on="2026-04-30",
             departments=["fire"])])
    h.post("/v1/compounds/HD-001/joint-meetings", first, "2026-04-10T18:00:00")
    second = story.meeting(held_on="2026-05-05", decisions=[
        dict(text="Tow abandoned cars", owner="Street office", due_on="2026-05-15",
             departments=["urban_management", "police"]),
        dict(text="Replace the pump", owner="PC-01", due_on="2026-06-01", issue_id=d,
             departments=["water"]),
        dict(text="Plan the bike shed", owner="Residents' committee", due_on="2026-06-10")])
    h.post("/v1/compounds/HD-001/joint-meetings", second, "2026-05-05T18:00:00")
    ids["meeting"] = second["meeting_id"]

    # HD-002: a whistle at the very time of HD-001's, two departments, none reported.
    ids["hd002"] = h.whistle("HD-002", "2026-05-18T09:00:00", ["police", "fire"],
                                 "corridor_clutter", description="Bikes in the stairwell")
    return ids


EXPECTED_HD001 = [
    ("not_reported", 1, ["urban_management"]),
    ("not_reported", 1, ["police"]),
    ("escalated", 2, ["police"]),
    ("overdue", 3, ["housing"]),
    ("unsatisfied", 4, ["water"]),
    ("decision_due", 5, ["urban_management", "police"]),
    ("decision_due", 5, ["water"]),
    ("recurring", 6, ["urban_management"]),
    ("contract_ending", 8, []),
    ("committee_term_ending", 9, []),
    ("party_below_half", 10, []),
]


def test_compound_agenda_has_every_kind_in_order(history):
    h = history
    ids = build_district(h)
    agenda = h.agenda("/v1/compounds/HD-001/agenda", "2026-05-20")
    assert agenda["as_of"] == "2026-05-19T16:00:00+00:00"
    items = agenda["items"]
    assert [(i["kind"], i["priority"], i["departments"]) for i in items] == EXPECTED_HD001
    assert [i["order"] for i in items] == list(range(1, 12))
    assert {i["compound_code"] for i in items} == {"HD-001"}

    by = [(i["kind"], i["issue_id"]) for i in items]
    assert by[:5] == [("not_reported", ids["not_reported"]), ("not_reported", ids["escalated"]),
                      ("escalated", ids["escalated"]), ("overdue", ids["overdue"]),
                      ("unsatisfied", ids["unsatisfied"])]
    assert items[0]["reason"] == (
        "The urban management department has not reported in on the blocked fire lane problem "
        "\"Cars block the fire lane by building 3\" raised on 2026-05-18; the report-in was "
        "due 2026-05-19 09:00.")
    assert items[0]["due"] == "2026-05-19T01:00:00+00:00"
    assert items[2]["reason"] == (
        "The public security problem \"Broken lock on the back gate\" raised on 2026-05-19 was "
        "escalated to the district level on 2026-05-19 because the police department did not "
        "report in time; it is still open.")
    assert items[3]["reason"] == (
        "The leak problem \"Roof leaks in building 5\" raised on 2026-05-10 was due to be "
        "resolved by 2026-05-17 09:00 and is still open.")
    assert items[4]["reason"] == (
        "Residents rated the resolution of the water supply problem \"Pump fails at night\" "
        "raised on 2026-05-01 unsatisfied on 2026-05-15; it was reopened and is still open.")
    overdue_decision, coming_decision = items[5], items[6]
    assert overdue_decision["reason"] == (
        "The joint meeting of 2026-05-05 decided \"Tow abandoned cars\" (owner: Street office), "
        "due 2026-05-15; it has not been followed up at a meeting since and is overdue.")
    assert (overdue_decision["meeting_id"], overdue_decision["decision"],
            overdue_decision["due"]) == (ids["meeting"], 1, "2026-05-15")
    assert coming_decision["reason"].endswith("due 2026-06-01; report on its progress.")
    assert coming_decision["issue_id"] == ids["unsatisfied"]
    recurring = items[7]
    assert recurring["category"] == "parking_disorder"
    assert recurring["issue_ids"] == ids["parking"].split(",")
    assert recurring["reason"] == (
        "Parking disorder was reported 3 times in the 90 days before the meeting (first on "
        "2026-03-01, last on 2026-05-05); the problem keeps coming back and needs a lasting fix.")
    assert items[8]["reason"] == (
        "The property contract with Jinhui Property ends on 2026-06-30, within 90 days; "
        "prepare the renewal or the selection of a new company.")
    assert items[8]["refers_to"] == "property_contract:PC-01"
    assert items[9]["reason"] == ("The owners' committee term ends on 2026-07-01, within 90 "
                                  "days; prepare the re-election.")
    assert items[10]["reason"] == ("Only 1 of the 3 owners' committee members are party "
                                   "members, below the half the rules ask for.")


def test_agenda_is_evaluated_as_of_the_meeting_day(history):
    h = history
    ids = build_district(h)
    # A week later: urban management has reported (05-21), the first whistle's
    # resolution is now overdue, the pump decision is within 14 days, the 05-20
    # charging whistle is now unanswered, and the contract has ended by August.
    later = h.agenda("/v1/compounds/HD-001/agenda", "2026-05-27")["items"]
    kinds = [(i["kind"], i["issue_id"]) for i in later]
    assert ("not_reported", ids["not_reported"]) not in kinds
    assert ("overdue", ids["not_reported"]) in kinds
    assert [i["category"] for i in later if i["kind"] == "not_reported"] == [
        "public_security", "flying_wire_charging"]
    # Early in the year: nothing had happened yet but the governance facts.
    early = h.agenda("/v1/compounds/HD-001/agenda", "2026-01-02")["items"]
    assert [i["kind"] for i in early] == ["no_property_company"]
    assert early[0]["reason"] == ("The compound has no property company: no property contract "
                                  "has been recorded.")
    # Before the compounds were registered: nothing at all.
    assert h.agenda("/v1/compounds/HD-001/agenda", "2025-12-01")["items"] == []
    before = h.agenda("/v1/communities/Huayuan/agenda", "2025-12-01")
    assert (before["compounds"], before["items"]) == ([], [])
    # After the contract ended and the committee term is past.
    august = h.agenda("/v1/compounds/HD-001/agenda", "2026-08-01")["items"]
    governance = [(i["kind"], i["reason"]) for i in august if i["priority"] >= 7]
    assert governance == [
        ("no_property_company", "The compound has no property company: the contract with "
                                "Jinhui Property ended on 2026-06-30."),
        ("committee_term_ending", "The owners' committee term ended on 2026-07-01; the "
                                  "re-election is overdue."),
        ("party_below_half", "Only 1 of the 3 owners' committee members are party members, "
                             "below the half the rules ask for."),
    ]
    # the recurring parking window has moved past the March and April whistles
    assert "recurring" not in [i["kind"] for i in august]


def test_community_agenda_is_the_union_in_one_order(history):
    h = history
    ids = build_district(h)
    agenda = h.agenda("/v1/communities/Huayuan/agenda", "2026-05-20")
    assert agenda["compounds"] == ["HD-001", "HD-002"]
    items = agenda["items"]
    head = [(i["compound_code"], i["kind"], i["departments"]) for i in items[:4]]
    # same priority and due time: compound, then issue, then department
    assert head == [("HD-001", "not_reported", ["urban_management"]),
                    ("HD-002", "not_reported", ["fire"]),
                    ("HD-002", "not_reported", ["police"]),
                    ("HD-001", "not_reported", ["police"])]
    assert items[1]["issue_id"] == items[2]["issue_id"] == ids["hd002"]
    assert [(i["compound_code"], i["kind"]) for i in items if i["priority"] >= 7] == [
        ("HD-002", "no_property_company"), ("HD-001", "contract_ending"),
        ("HD-001", "committee_term_ending"), ("HD-001", "party_below_half")]
    assert len(items) == len(EXPECTED_HD001) + 3
    assert all(i["compound_name"] == f"Compound {i['compound_code']}" for i in items)
    # the same events give the same agenda
    assert h.agenda("/v1/communities/Huayuan/agenda", "2026-05-20") == agenda
    other = h.agenda("/v1/communities/Zhanlan/agenda", "2026-05-20")
    assert [(i["compound_code"], i["kind"]) for i in other["items"]] == [
        ("HD-003", "no_property_company")]


def test_agenda_as_csv(history):
    h = history
    build_district(h)
    r = h.client.get("/v1/compounds/HD-001/agenda",
                     params=dict(meeting_on="2026-05-20", format="csv", after=h.position),
                     headers=h.auth["auditor"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["order", "compound_code", "compound_name", "priority", "kind",
                             "refers_to", "issue_id", "category", "urgency", "meeting_id",
                             "decision", "departments", "due", "reason", "summonses"]
    assert [(row["order"], row["kind"], row["departments"]) for row in rows] == [
        (str(n), kind, ";".join(depts)) for n, (kind, _, depts) in enumerate(EXPECTED_HD001, 1)]
    assert rows[7]["issue_id"].count(";") == 2  # the three recurring issues
    assert rows[10]["due"] == "" and rows[8]["due"] == "2026-06-30"
    on_street = h.auth.as_("grid_worker", street="Xinjiekou")
    r = h.client.get("/v1/communities/Huayuan/agenda", params=dict(meeting_on="2026-05-20"),
                     headers={**on_street, "Accept": "text/csv"})
    assert r.status_code == 200 and len(r.text.strip().splitlines()) == 1 + 14


def test_agenda_errors_and_readers(client, auth):
    r = client.get("/v1/compounds/HD-001/agenda", params=dict(meeting_on="2026-05-20"))
    assert r.status_code == 401
    r = client.get("/v1/compounds/NOPE/agenda", params=dict(meeting_on="2026-05-20"),
                   headers=auth["viewer"])
    assert r.status_code == 404
    r = client.get("/v1/compounds/NOPE/agenda", headers=auth["viewer"])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "query.meeting_on"
    r = client.get("/v1/communities/Nowhere/agenda", params=dict(meeting_on="2026-05-20"),
                   headers=auth["fire"])
    assert r.status_code == 404


def test_scratch_build_as_of_a_past_position(history, services):
    """What the auditors do: build the view into scratch tables, in one
    batch, up to a position, and query them with the same functions."""
    h = history
    ids = build_district(h)
    live = h.agenda("/v1/communities/Huayuan/agenda", "2026-05-20")
    view = AgendaView()
    assert rebuild(services.log, view, prefix="scratch_") == h.position
    again = agenda_for_community(services.log, "scratch_", "Huayuan", "2026-05-20")
    assert again == live
    rebuild(services.log, view, prefix="past_", until=ids["before_meetings"])
    past = agenda_for_compound(services.log, "past_", "HD-001", "2026-05-20")["items"]
    assert [i["kind"] for i in past] == [k for k, _, _ in EXPECTED_HD001 if k != "decision_due"]
    drop(services.log, view, "scratch_")
    drop(services.log, view, "past_")
    with pytest.raises(Exception):
        agenda_for_compound(services.log, "past_", "HD-001", "2026-05-20")


def test_push_back_on_the_agenda(history, services, auth):
    """Each summons with its state and its own deadlines, as of the cut-off:
    a pending or rejected decline is said, an accepted one leaves the to-do,
    a department reassigned or added is late by its own deadline, an approved
    extension moves the overdue date, a duplicate leaves. Times local; the
    items' `due` in UTC (local − 8 h)."""
    h = history
    h.compound("HD-001")
    act = lambda issue, what, body, at: h.issue("HD-001", issue, what, body, at)  # noqa: E731

    def items(meeting_on: str, who: str = "official") -> list[tuple]:
        r = h.client.get("/v1/compounds/HD-001/agenda",
                         params=dict(meeting_on=meeting_on, after=h.position),
                         headers=h.auth[who])
        assert r.status_code == 200, r.text
        Agenda.model_validate(r.json())  # the answer the OpenAPI document describes
        return [i for i in r.json()["items"] if i["issue_id"]]

    def brief(meeting_on: str, who: str = "official") -> list[tuple]:
        return [(i["kind"], i["issue_id"], i["departments"], i["due"])
                for i in items(meeting_on, who)]

    # A (normal): report-in due 05-05 09:00, resolution 05-11 09:00.
    a = h.whistle("HD-001", "2026-05-04T09:00:00", ["fire", "police"], "noise",
                  description="Drums at night")
    h.report("HD-001", a, "fire", "2026-05-04T10:00:00")
    act(a, "declines", {"department": "police", "reason": "not a crime"}, "2026-05-04T12:00:00")
    # B: report-in due 05-07 09:00; fire declines.
    b = h.whistle("HD-001", "2026-05-06T09:00:00", ["fire"], "leak", description="Pipe burst")
    act(b, "declines", {"department": "fire", "reason": "a pipe"}, "2026-05-06T10:00:00")

    # Meeting of 05-06 (cut-off 05-06 00:00): police has not reported on A and
    # its decline awaits the official; B is not blown yet.
    m1 = items("2026-05-06")
    assert [(i["kind"], i["issue_id"], i["departments"], i["due"]) for i in m1] == [
        ("not_reported", a, ["police"], "2026-05-05T01:00:00+00:00")]
    assert m1[0]["reason"] == (
        "The police department has not reported in on the noise problem \"Drums at night\" "
        "raised on 2026-05-04; the report-in was due 2026-05-05 09:00. It has declined the "
        "issue; an official has yet to decide.")
    assert m1[0]["summonses"] == [
        dict(department="fire", state="awaiting_resolution",
             summoned_at="2026-05-04T01:00:00+00:00", report_due_at="2026-05-05T01:00:00+00:00",
             resolve_due_at="2026-05-11T01:00:00+00:00", reported_at="2026-05-04T02:00:00+00:00",
             decline=None, extension=None, extension_until=None,
             awaiting_until="2026-05-11T01:00:00+00:00", overdue=False),
        dict(department="police", state="awaiting_report",
             summoned_at="2026-05-04T01:00:00+00:00", report_due_at="2026-05-05T01:00:00+00:00",
             resolve_due_at="2026-05-11T01:00:00+00:00", reported_at=None, decline="pending",
             extension=None, extension_until=None, awaiting_until="2026-05-05T01:00:00+00:00",
             overdue=True)]
    # Meeting of 05-10, before the decline is decided: police still late on A,
    # fire on B (due 05-07 09:00, its decline pending too).
    assert brief("2026-05-10") == [
        ("not_reported", a, ["police"], "2026-05-05T01:00:00+00:00"),
        ("not_reported", b, ["fire"], "2026-05-07T01:00:00+00:00")]

    # The decline on A is accepted; B is reassigned (改派) from fire to water
    # at 15:00 (water's report-in due 05-07 15:00, resolution 05-13 15:00),
    # water declines too and is rejected.
    act(a, "decline-decisions", {"department": "police", "accept": True}, "2026-05-06T12:00:00")
    act(b, "summonses", {"department": "water", "replaces": "fire"}, "2026-05-06T15:00:00")
    act(b, "declines", {"department": "water", "reason": "not ours"}, "2026-05-08T09:00:00")
    act(b, "decline-decisions", {"department": "water", "accept": False},
        "2026-05-08T10:00:00")
    # C (urgent): report-in due 05-08 11:00, resolution 05-09 09:00; housing
    # reports, then asks until 05-14 18:00.
    c = h.whistle("HD-001", "2026-05-08T09:00:00", ["housing"], "water_supply", "urgent",
                  description="No water on floor 6")
    h.report("HD-001", c, "housing", "2026-05-08T10:00:00")
    act(c, "extensions", {"department": "housing", "until": "2026-05-14T18:00:00+08:00",
                          "reason": "a pump on order"}, "2026-05-08T12:00:00")

    # The agenda of 05-06 is what was known then: unchanged.
    assert items("2026-05-06") == m1
    # 05-10: police has left A (nothing left on A: fire reported and has until
    # 05-11); fire has left B, water is late by its own deadline and its
    # decline was rejected; C's resolution (05-09 09:00) is overdue, the
    # extension not yet decided.
    m2 = items("2026-05-10")
    assert [(i["kind"], i["issue_id"], i["departments"], i["due"]) for i in m2] == [
        ("not_reported", b, ["water"], "2026-05-07T07:00:00+00:00"),
        ("overdue", c, ["housing"], "2026-05-09T01:00:00+00:00")]
    assert m2[0]["reason"] == (
        "The water department has not reported in on the leak problem \"Pipe burst\" raised "
        "on 2026-05-06; the report-in was due 2026-05-07 15:00. Its decline of the issue was "
        "rejected.")
    assert [(s["department"], s["state"], s["decline"], s["awaiting_until"], s["overdue"])
            for s in m2[0]["summonses"]] == [
        ("fire", "ended", "accepted", None, False),
        ("water", "awaiting_report", "rejected", "2026-05-07T07:00:00+00:00", True)]
    assert [(s["extension"], s["extension_until"], s["resolve_due_at"])
            for s in m2[1]["summonses"]] == [
        ("pending", "2026-05-14T10:00:00+00:00", "2026-05-09T01:00:00+00:00")]
    # fire reads only what names it: nothing of A's police or of B
    assert brief("2026-05-10", "fire") == []

    # The extension approved (05-09 08:00): C is no longer overdue on 05-10.
    act(c, "extension-decisions", {"department": "housing", "approve": True},
        "2026-05-09T08:00:00")
    assert brief("2026-05-10") == [("not_reported", b, ["water"], "2026-05-07T07:00:00+00:00")]

    # D: police reports in time; E is the same problem.
    d = h.whistle("HD-001", "2026-05-12T09:00:00", ["police"], "corridor_clutter",
                  description="Bikes in the stairwell")
    h.report("HD-001", d, "police", "2026-05-12T10:00:00")
    e = h.whistle("HD-001", "2026-05-12T11:00:00", ["fire"], "blocked_fire_lane",
                  description="Bikes block the lane")
    # 05-15, before 追加 and the duplicate: E's fire is late (due 05-13 11:00);
    # A's resolution (05-11 09:00), B's water's own (05-13 15:00) and C's
    # extended one (05-14 18:00) have passed.
    before = [("not_reported", b, ["water"], "2026-05-07T07:00:00+00:00"),
              ("not_reported", e, ["fire"], "2026-05-13T03:00:00+00:00"),
              ("overdue", a, ["fire"], "2026-05-11T01:00:00+00:00"),
              ("overdue", b, ["water"], "2026-05-13T07:00:00+00:00"),
              ("overdue", c, ["housing"], "2026-05-14T10:00:00+00:00")]
    assert brief("2026-05-15") == before
    # E closed as a duplicate of D, and urban management added (追加) to D at
    # 05-13 09:00: its report-in due 05-14 09:00 has passed.
    act(e, "duplicate", {"duplicate_of": d}, "2026-05-12T12:00:00")
    act(d, "summonses", {"department": "urban_management"}, "2026-05-13T09:00:00")
    m3 = items("2026-05-15")
    assert [(i["kind"], i["issue_id"], i["departments"], i["due"]) for i in m3] == [
        before[0], ("not_reported", d, ["urban_management"], "2026-05-14T01:00:00+00:00"),
        *before[2:]]
    overdue_c = m3[4]
    assert overdue_c["reason"] == (
        "The water supply problem \"No water on floor 6\" raised on 2026-05-08 was due to be "
        "resolved by 2026-05-14 18:00 and is still open.")
    assert [(s["department"], s["extension"], s["resolve_due_at"], s["overdue"])
            for s in overdue_c["summonses"]] == [
        ("housing", "approved", "2026-05-14T10:00:00+00:00", True)]
    assert [(s["department"], s["summoned_at"], s["state"], s["report_due_at"])
            for s in m3[1]["summonses"]] == [
        ("police", "2026-05-12T01:00:00+00:00", "awaiting_resolution",
         "2026-05-13T01:00:00+00:00"),
        ("urban_management", "2026-05-13T01:00:00+00:00", "awaiting_report",
         "2026-05-14T01:00:00+00:00")]
    assert brief("2026-05-15", "fire") == [before[2]]  # A; not B (reassigned), not E

    # The spreadsheet says the same in one cell.
    r = h.client.get("/v1/compounds/HD-001/agenda",
                     params=dict(meeting_on="2026-05-10", format="csv", after=h.position),
                     headers=h.auth["official"])
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["summonses"] for row in rows if row["issue_id"]] == [
        "fire: ended, decline accepted; water: awaiting_report until "
        "2026-05-07T07:00:00+00:00 (overdue), decline rejected"]

    # Followed live, rebuilt in one go, fed three events a batch: the same rows
    # and the same agendas.
    with rebuilt_and_fed(services.log, AgendaView()) as prefixes:
        for day in ("2026-05-06", "2026-05-10", "2026-05-15"):
            published = agenda_for_compound(services.log, "", "HD-001", day)
            for prefix in prefixes:
                assert agenda_for_compound(services.log, prefix, "HD-001", day) == published


def test_views_of_release_0_1_are_refolded_on_start(database_url):
    """A database release 0.1 made (its agenda kept one report-in per
    department, its rankings whistles with a count of departments): the
    agenda and rankings tables go at start and are fed again from the log."""
    from adapters.settings import Settings
    from projections.feed import ViewsFollower, tracked_position
    from projections.registry import all_views
    from projections.rankings.view import RankingsView
    from service_layer.bootstrap import bootstrap
    from tests.test_migrations import load_release_0_1

    load_release_0_1(database_url)
    services = bootstrap(Settings(database_url=database_url))
    try:
        db = services.db
        follower = ViewsFollower(services.log, all_views())  # creates the tables
        with db.transaction(commit=False) as cur:
            assert [tracked_position(db, cur, v) for v in ("agenda", "rankings", "dashboard")] \
                == [0, 0, 2]
        follower.catch_up()
        agenda = agenda_for_compound(services.log, "", "HU-001", "2026-05-03")
        # 0.1's one whistle (05-01 09:00 UTC, fire, report-in due 05-02 09:00 UTC)
        assert [(i["kind"], i["departments"], i["due"], [s["state"] for s in i["summonses"]])
                for i in agenda["items"] if i["issue_id"]] == [
            ("not_reported", ["fire"], "2026-05-02T09:00:00+00:00", ["awaiting_report"])]
        rankings = RankingsView()
        with db.transaction(commit=False) as cur:
            for view in (AgendaView(), rankings):
                assert tracked_position(db, cur, view.name) == 2
                cur.execute(f"SELECT version FROM {view.table(db, '', 'version')}")
                assert cur.fetchall() == [(2,)]
        with pytest.raises(Exception), db.transaction(commit=False) as cur:
            cur.execute(f"SELECT * FROM {rankings.table(db, '', 'whistles')}")
    finally:
        services.close()
