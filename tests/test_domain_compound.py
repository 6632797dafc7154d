"""The compound's rules, told as stories, with no database at all."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.compound import Compound
from domain.deadlines import DeadlinePolicy
from domain.exceptions import ConflictingRepeat, RuleBroken, UnknownFact
from domain.ids import compound_id

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
POLICY = DeadlinePolicy()


def new_compound() -> Compound:
    return Compound.register(code="HD-001", name="Huayuan Lane 3", district="Haidian",
                             street="Xinjiekou", community="Huayuan", grids=["G1", "G2"],
                             households=480, kind="old", management_mode="professional", at=T0)


def whistle(c: Compound, issue_id: str = "i-1", departments=("fire", "police"),
            urgency: str = "normal", at: datetime = T0, **over) -> None:
    fields = dict(issue_id=issue_id, category="blocked_fire_lane", description="cars",
                  departments=list(departments), urgency=urgency, source="grid_patrol",
                  grid="G1", building="3", unit=None, grid_worker="Wang", policy=POLICY, at=at)
    c.blow_whistle(**dict(fields, **over))


def resolved(c: Compound, issue_id: str = "i-1") -> None:
    c.resolve(issue_id=issue_id, department="fire", how="towed", at=T0 + timedelta(hours=3))


def test_the_same_code_always_gives_the_same_id():
    assert new_compound().id == new_compound().id == compound_id("HD-001")
    assert compound_id("HD-001") != compound_id("HD-002")


def test_whistle_stores_deadlines_by_urgency():
    c = new_compound()
    whistle(c, "normal")
    whistle(c, "urgent", urgency="urgent")
    assert c.issues["normal"]["report_due_at"] == T0 + timedelta(hours=24)
    assert c.issues["normal"]["resolve_due_at"] == T0 + timedelta(days=7)
    assert c.issues["urgent"]["report_due_at"] == T0 + timedelta(hours=2)
    assert c.issues["urgent"]["resolve_due_at"] == T0 + timedelta(hours=24)
    event = c.pending_events[-1]
    assert type(event).__name__ == "WhistleBlown" and event.report_due_at == T0 + timedelta(hours=2)


def test_deadlines_are_configuration():
    c = new_compound()
    c.blow_whistle(issue_id="x", category="noise", description="d", departments=["police"],
                   urgency="urgent", source="resident", grid=None, building=None, unit=None,
                   grid_worker="Wang", policy=DeadlinePolicy.from_hours(1, 12, 12, 72), at=T0)
    assert c.issues["x"]["report_due_at"] == T0 + timedelta(hours=1)


def test_a_retried_whistle_is_no_new_event_and_a_changed_one_is_refused():
    c = new_compound()
    whistle(c)
    whistle(c, at=T0 + timedelta(minutes=1))  # the phone retried a minute later
    assert len(c.pending_events) == 2
    with pytest.raises(ConflictingRepeat):
        whistle(c, description="something else")


def test_only_summoned_departments_report_in_once():
    c = new_compound()
    whistle(c)
    with pytest.raises(RuleBroken, match="not summoned"):
        c.report_in(issue_id="i-1", department="water", officer="Zhao", at=T0)
    c.report_in(issue_id="i-1", department="fire", officer="Li", at=T0)
    c.report_in(issue_id="i-1", department="fire", officer="Li", at=T0)
    assert [type(e).__name__ for e in c.pending_events].count("DepartmentReported") == 1


def test_nothing_happens_to_an_unknown_issue():
    c = new_compound()
    for act in (lambda: c.report_in(issue_id="nope", department="fire", officer="Li", at=T0),
                lambda: c.resolve(issue_id="nope", department="fire", how="x", at=T0),
                lambda: c.rate(issue_id="nope", rating="satisfied", comment=None, rated_by="W",
                               policy=POLICY, at=T0),
                lambda: c.escalate(issue_id="nope", at=T0)):
        with pytest.raises(UnknownFact):
            act()


def test_a_resolved_issue_cannot_be_resolved_again():
    c = new_compound()
    whistle(c)
    resolved(c)
    resolved(c)  # the same resolution retried: harmless
    with pytest.raises(RuleBroken, match="already resolved"):
        c.resolve(issue_id="i-1", department="police", how="other", at=T0)


def test_a_rating_needs_a_resolved_issue():
    c = new_compound()
    whistle(c)
    with pytest.raises(RuleBroken, match="must be resolved"):
        c.rate(issue_id="i-1", rating="satisfied", comment=None, rated_by="W", policy=POLICY, at=T0)


def test_an_unsatisfied_rating_reopens_the_issue_with_a_new_resolution_deadline():
    c = new_compound()
    whistle(c)
    resolved(c)
    at = T0 + timedelta(days=2)
    c.rate(issue_id="i-1", rating="unsatisfied", comment="still blocked", rated_by="W",
           policy=POLICY, at=at)
    issue = c.issues["i-1"]
    assert issue["status"] == "open" and issue["reopened"] == 1
    assert issue["resolve_due_at"] == at + timedelta(days=7)
    assert [type(e).__name__ for e in c.pending_events][-2:] == ["ResidentRated", "IssueReopened"]
    with pytest.raises(RuleBroken):  # the reopened issue is open again: no second rating yet
        c.rate(issue_id="i-1", rating="satisfied", comment=None, rated_by="W", policy=POLICY,
               at=at)


def test_escalation_once_per_missed_deadline_and_one_level_at_a_time():
    c = new_compound()
    whistle(c, urgency="urgent")
    c.report_in(issue_id="i-1", department="fire", officer="Li", at=T0)
    assert c.escalate(issue_id="i-1", at=T0 + timedelta(hours=1)) == 0  # not yet due
    assert c.escalate(issue_id="i-1", at=T0 + timedelta(hours=3)) == 1  # police missed 2 h
    assert c.escalate(issue_id="i-1", at=T0 + timedelta(hours=4)) == 0  # already escalated
    assert c.issues["i-1"]["level"] == "district"
    assert c.escalate(issue_id="i-1", at=T0 + timedelta(hours=25)) == 1  # unresolved in 24 h
    escalations = c.issues["i-1"]["escalations"]
    assert [(e["reason"], e["to_level"]) for e in escalations] == [
        ("not_reported", "district"), ("not_resolved", "city")]


def test_committee_members_need_role_and_party_flag_and_a_minority_is_flagged():
    c = new_compound()
    with pytest.raises(RuleBroken, match="role and a party flag"):
        c.elect_committee(term_start="2026-01-01", term_end="2031-01-01",
                          members=[{"name": "A", "role": "director"}], at=T0)
    members = [{"name": "A", "role": "director", "party_member": True},
               {"name": "B", "role": "member", "party_member": False},
               {"name": "C", "role": "member", "party_member": False}]
    c.elect_committee(term_start="2026-01-01", term_end="2031-01-01", members=members, at=T0)
    assert c.committee["party_below_half"] is True and c.committee["party_members"] == 1
    c.elect_committee(term_start="2031-01-01", term_end="2036-01-01", members=members[:2], at=T0)
    assert c.committee["party_below_half"] is False  # one in two is half: not below


def test_property_contract_and_incident_name_the_company():
    c = new_compound()
    c.contract_property_company(company_code="PC-01", company_name="Jinhui", starts_on="2026-01-01",
                                ends_on="2028-12-31", at=T0)
    c.record_incident(incident_id="inc-1", kind="safety_accident", occurred_on="2026-04-01",
                      description="fall", company_code=None, at=T0)
    assert c.pending_events[-1].company_code == "PC-01"
    with pytest.raises(RuleBroken):
        c.contract_property_company(company_code="PC-02", company_name="X", starts_on="2027-01-01",
                                    ends_on="2026-01-01", at=T0)


def test_a_snapshot_of_a_busy_compound_restores_its_state():
    from eventsourcing.domain import Snapshot
    c = new_compound()
    for n in range(60):
        whistle(c, f"i-{n}")
    snapshot = Snapshot.take(c)
    restored = snapshot.mutate(None)
    assert restored.issues == c.issues and restored.version == c.version
