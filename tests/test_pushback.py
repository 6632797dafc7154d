"""Departments push back, officials decide (issue 14): decline (退单), reassign
and add (改派, 追加), extension (延期), duplicate. The rules without a
database, then end to end on SQLite and PostgreSQL with the dashboard's
figures before and after, worked out by hand.

One module, though long: the four facts share one story compound and its
hand-worked figures; split, each file would have to tell the story again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from consumers.envelope import route
from domain.compound import Compound
from domain.deadlines import DeadlinePolicy
from domain.exceptions import RuleBroken
from tests import story

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
POLICY = DeadlinePolicy()


def compound_with(departments=("fire", "police"), urgency="normal") -> Compound:
    c = Compound.register(code="HD-001", name="Huayuan", district="Haidian", street="Xinjiekou",
                          community="Huayuan", grids=["G1"], households=10, kind="old",
                          management_mode="professional", at=T0)
    c.blow_whistle(issue_id="i-1", category="noise", description="d", departments=list(departments),
                   urgency=urgency, source="resident", grid="G1", building=None, unit=None,
                   grid_worker="Wang", policy=POLICY, at=T0)
    return c


def last(c: Compound) -> str:
    return type(c.pending_events[-1]).__name__


# -- the rules ----------------------------------------------------------------
def test_a_decline_waits_for_an_official_and_its_clock_keeps_running():
    c = compound_with()
    c.decline(issue_id="i-1", department="police", reason="a neighbour dispute, not crime", at=T0)
    assert last(c) == "SummonsDeclined"
    n = len(c.pending_events)
    c.decline(issue_id="i-1", department="police", reason="a neighbour dispute, not crime", at=T0)
    assert len(c.pending_events) == n  # a retry
    with pytest.raises(RuleBroken):
        c.decline(issue_id="i-1", department="police", reason="another reason", at=T0)
    with pytest.raises(RuleBroken):
        c.decline(issue_id="i-1", department="water", reason="never summoned", at=T0)
    late = c.escalations_due(T0 + timedelta(hours=25))
    assert {d["key"] for d in late} == {"not_reported:fire", "not_reported:police"}


def test_a_rejected_decline_must_be_acted_on():
    c = compound_with()
    c.decline(issue_id="i-1", department="police", reason="not ours", at=T0)
    c.decide_decline(issue_id="i-1", department="police", accept=False, official="Zhao",
                     note="it is yours", at=T0)
    assert last(c) == "DeclineRejected"
    with pytest.raises(RuleBroken):
        c.decline(issue_id="i-1", department="police", reason="still not ours", at=T0)
    with pytest.raises(RuleBroken):
        c.decide_decline(issue_id="i-1", department="police", accept=True, official="Zhao",
                         note=None, at=T0)
    c.report_in(issue_id="i-1", department="police", officer="Li", at=T0)


def test_an_accepted_decline_ends_the_summons_but_never_the_last_one():
    c = compound_with()
    c.decline(issue_id="i-1", department="police", reason="not ours", at=T0)
    c.decide_decline(issue_id="i-1", department="police", accept=True, official="Zhao",
                     note=None, at=T0)
    assert c.issues["i-1"]["departments"] == ["fire"]
    with pytest.raises(RuleBroken):
        c.report_in(issue_id="i-1", department="police", officer="Li", at=T0)
    assert {d["key"] for d in c.escalations_due(T0 + timedelta(hours=25))} == {"not_reported:fire"}
    c.decline(issue_id="i-1", department="fire", reason="not ours either", at=T0)
    with pytest.raises(RuleBroken):  # the issue would have no department
        c.decide_decline(issue_id="i-1", department="fire", accept=True, official="Zhao",
                         note=None, at=T0)


def test_reassigning_ends_the_old_summons_and_the_new_one_has_its_own_deadlines():
    c = compound_with(("fire",))
    c.decline(issue_id="i-1", department="fire", reason="not ours", at=T0)
    later = T0 + timedelta(hours=5)
    c.summon_department(issue_id="i-1", department="water", replaces="fire", official="Zhao",
                        reason="a burst pipe", policy=POLICY, at=later)
    issue = c.issues["i-1"]
    assert issue["departments"] == ["water"] and issue["declines"]["fire"]["state"] == "accepted"
    assert c.report_due_of(issue, "water") == later + timedelta(hours=24)
    assert c.resolve_due_of(issue, "water") == later + timedelta(days=7)
    n = len(c.pending_events)
    c.summon_department(issue_id="i-1", department="water", replaces="fire", official="Zhao",
                        reason="a burst pipe", policy=POLICY, at=later)
    assert len(c.pending_events) == n  # a retry
    # Added (追加) beside water: both act; neither may replace itself.
    c.summon_department(issue_id="i-1", department="housing", replaces=None, official="Zhao",
                        reason=None, policy=POLICY, at=later)
    assert issue["departments"] == ["water", "housing"]
    with pytest.raises(RuleBroken):
        c.summon_department(issue_id="i-1", department="water", replaces="water",
                            official="Zhao", reason=None, policy=POLICY, at=later)
    # The original deadline (T0 + 24 h) passed; water's (T0 + 29 h) not yet.
    assert c.escalations_due(T0 + timedelta(hours=25)) == []


def test_an_approved_extension_moves_that_summons_resolution_deadline():
    c = compound_with(("fire", "police"), urgency="urgent")  # resolve due T0 + 24 h
    until = T0 + timedelta(hours=72)
    with pytest.raises(RuleBroken):
        c.request_extension(issue_id="i-1", department="fire", until=T0 + timedelta(hours=1),
                            reason="too soon", at=T0)
    c.request_extension(issue_id="i-1", department="fire", until=until, reason="parts", at=T0)
    with pytest.raises(RuleBroken):
        c.decide_extension(issue_id="i-1", department="police", approve=True, official="Zhao",
                           note=None, at=T0)
    c.decide_extension(issue_id="i-1", department="fire", approve=True, official="Zhao",
                       note=None, at=T0)
    issue = c.issues["i-1"]
    assert c.resolve_due_of(issue, "fire") == until
    assert c.resolve_due_of(issue, "police") == T0 + timedelta(hours=24)
    for d in ("fire", "police"):
        c.report_in(issue_id="i-1", department=d, officer="Li", at=T0)
    due = c.escalations_due(T0 + timedelta(hours=25))
    assert [(d["reason"], d["departments"]) for d in due] == [("not_resolved", ["police"])]
    c.request_extension(issue_id="i-1", department="police", until=until, reason="parts",
                        at=T0)
    c.decide_extension(issue_id="i-1", department="police", approve=False, official="Zhao",
                       note="no", at=T0)
    assert last(c) == "ExtensionRefused"
    assert c.resolve_due_of(issue, "police") == T0 + timedelta(hours=24)


def test_a_duplicate_leaves_the_work_and_points_to_the_other():
    c = compound_with(("fire",))
    c.blow_whistle(issue_id="i-2", category="noise", description="again", departments=["fire"],
                   urgency="normal", source="resident", grid="G1", building=None, unit=None,
                   grid_worker="Wang", policy=POLICY, at=T0)
    with pytest.raises(RuleBroken):
        c.close_as_duplicate(issue_id="i-2", duplicate_of="i-2", official="Zhao", reason=None,
                             at=T0)
    c.close_as_duplicate(issue_id="i-2", duplicate_of="i-1", official="Zhao", reason="same",
                         at=T0)
    assert c.issues["i-2"]["status"] == "duplicate" and c.issues["i-2"]["duplicate_of"] == "i-1"
    with pytest.raises(RuleBroken):
        c.close_as_duplicate(issue_id="i-1", duplicate_of="i-2", official="Zhao", reason=None,
                             at=T0)
    with pytest.raises(RuleBroken):
        c.resolve(issue_id="i-2", department="fire", how="x", at=T0)
    with pytest.raises(RuleBroken):
        c.report_in(issue_id="i-2", department="fire", officer="Li", at=T0)
    assert {d["issue_id"] for d in c.escalations_due(T0 + timedelta(days=30))} == {"i-1"}


class _Memory:
    def __init__(self):
        self.known, self.issues = {}, {}

    def aggregate(self, oid):
        return self.known[oid]

    def remember_aggregate(self, oid, kind, code):
        self.known[oid] = (kind, code)

    def departments(self, oid, issue_id, version):
        return self.issues[(oid, issue_id)]

    def remember_issue(self, oid, issue_id, departments):
        self.issues[(oid, issue_id)] = departments


def test_a_new_summons_goes_to_the_new_departments_topic():
    c = compound_with(("fire",))
    c.decline(issue_id="i-1", department="fire", reason="not ours", at=T0)
    c.summon_department(issue_id="i-1", department="water", replaces="fire", official="Zhao",
                        reason=None, policy=POLICY, at=T0)
    c.blow_whistle(issue_id="i-2", category="noise", description="again", departments=["fire"],
                   urgency="normal", source="resident", grid="G1", building=None, unit=None,
                   grid_worker="Wang", policy=POLICY, at=T0)
    c.close_as_duplicate(issue_id="i-1", duplicate_of="i-2", official="Zhao", reason=None, at=T0)
    memory, sent = _Memory(), []
    for n, e in enumerate(c.collect_events(), start=1):
        sent += [(m.topic, m.key) for m in route(n, e, memory, "events", lambda d: f"to.{d}")
                 if m.topic != "events"]
    assert sent == [("to.fire", "i-1"), ("to.water", "i-1"), ("to.fire", "i-1"),
                    ("to.fire", "i-2"), ("to.water", "i-1")]


# -- end to end ----------------------------------------------------------------
URL = "/v1/dashboard/response-rates"


class Desk:
    def __init__(self, client, auth):
        self.client, self.auth, self.position = client, auth, 0

    def post(self, who: str | dict, path: str, body: dict, status=(200, 201)) -> dict:
        headers = self.auth[who] if isinstance(who, str) else who
        r = self.client.post(path, json=body, headers=headers)
        assert r.status_code in status, r.text
        self.position = max(self.position, r.json().get("position") or 0)
        return r.json()

    def whistle(self, departments, urgency="normal") -> str:
        body = story.whistle(departments, urgency=urgency)
        self.post("admin", "/v1/compounds/HD-001/whistles", body)
        return body["issue_id"]

    def on(self, issue_id: str, what: str) -> str:
        return f"/v1/compounds/HD-001/issues/{issue_id}/{what}"

    def figures(self, by="department", **keys) -> dict[str, dict]:
        r = self.client.get(URL, params={"from": "2026-05-01", "to": "2026-05-02", "by": by,
                                         "after": self.position}, headers=self.auth["admin"])
        assert r.status_code == 200, r.text
        wanted = ("summonses", "reported", "reported_in_time", "issues", "open", "overdue")
        return {row["key"]: {k: row[k] for k in wanted} for row in r.json()["rows"]
                if row["key"] in keys.get("keys", (row["key"],))}

    def issues(self, **params) -> list[dict]:
        r = self.client.get("/v1/issues", params=dict(params, after=self.position),
                            headers=self.auth["admin"])
        assert r.status_code == 200, r.text
        return r.json()["items"]


def fig(summonses=1, reported=0, in_time=0, issues=1, open_=1, overdue=0) -> dict:
    return dict(summonses=summonses, reported=reported, reported_in_time=in_time, issues=issues,
                open=open_, overdue=overdue)


@pytest.fixture
def desk(client, auth):
    d = Desk(client, auth)
    d.post("admin", "/v1/compounds", story.compound("HD-001"))
    return d


def test_decline_then_reject(desk, auth, clock):
    issue = desk.whistle(["fire", "police"])  # 09:00 UTC = 17:00 local on 1 May
    keys = ("fire", "police")
    assert desk.figures(keys=keys) == {"fire": fig(), "police": fig()}
    # The token names the department; naming another one is refused.
    desk.post("police", desk.on(issue, "declines"), {"department": "fire", "reason": "x"},
              status=(403,))
    desk.post("police", desk.on(issue, "declines"), {"reason": "a neighbour dispute"})
    r = desk.client.post(desk.on(issue, "declines"), json={"reason": "x"},
                         headers=auth["admin"])
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["department"]
    for who in ("grid_worker", "official", "viewer"):  # only a department declines
        desk.post(who, desk.on(issue, "declines"), {"department": "fire", "reason": "x"},
                  status=(403,))
    r = desk.client.post(desk.on(issue, "declines"), json={"reason": "a\x00b"},
                         headers=auth["fire"])
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["reason"]
    waiting = desk.issues(status="awaiting_decision")
    assert [i["issue_id"] for i in waiting] == [issue]
    assert next(s for s in waiting[0]["departments"] if s["department"] == "police")[
        "decline"] == "pending"
    # A declined summons still counts, and still awaits its report-in.
    assert desk.figures(keys=keys) == {"fire": fig(), "police": fig()}
    other_street = auth.as_("official", street="Jinrong")
    desk.post(other_street, desk.on(issue, "decline-decisions"),
              {"department": "police", "accept": False}, status=(403,))
    desk.post("official", desk.on(issue, "decline-decisions"),
              {"department": "police", "accept": False, "note": "it is a police matter"})
    assert desk.issues(status="awaiting_decision") == []
    # The clock never stopped: at 25 hours police is late, and counted so.
    clock.advance(hours=25)
    desk.post("police", desk.on(issue, "reports"), {"department": "police", "officer": "Li"})
    assert desk.figures(keys=keys) == {"fire": fig(overdue=1),
                                       "police": fig(reported=1, in_time=0)}


def test_decline_accept_then_reassign(desk, auth, clock):
    issue = desk.whistle(["fire", "police"])
    assert desk.figures(by="street") == {"Xinjiekou": fig(summonses=2)}
    desk.post("police", desk.on(issue, "declines"), {"reason": "not ours"})
    desk.post("official", desk.on(issue, "decline-decisions"),
              {"department": "police", "accept": True})
    # Police leaves every figure; the issue stays, with fire alone.
    assert desk.figures(keys=("fire", "police", "water")) == {
        "fire": fig(), "police": fig(summonses=0, issues=0, open_=0),
        "water": fig(summonses=0, issues=0, open_=0)}
    assert desk.figures(by="street") == {"Xinjiekou": fig(summonses=1)}
    # Fire declines too; the official reassigns to water at +5 h (改派).
    clock.advance(hours=5)
    desk.post("fire", desk.on(issue, "declines"), {"reason": "a burst pipe"})
    desk.post("official", desk.on(issue, "summonses"),
              {"department": "water", "replaces": "fire", "reason": "a burst pipe"})
    inbox = desk.client.get("/v1/departments/water/inbox", params={"after": desk.position},
                            headers=auth["water"]).json()["items"]
    assert [(i["issue_id"], i["summons"]["report_due_at"]) for i in inbox] == [
        (issue, "2026-05-02T14:00:00.000000+00:00")]
    assert desk.client.get("/v1/departments/fire/inbox",
                           headers=auth["fire"]).json()["items"] == []
    # At +25 h the issue's first deadline (+24 h) has passed, water's (+29 h) not.
    clock.advance(hours=20)
    desk.post("water", desk.on(issue, "reports"), {"department": "water", "officer": "Zhou"})
    assert desk.figures(keys=("fire", "police", "water")) == {
        "fire": fig(summonses=0, issues=0, open_=0),
        "police": fig(summonses=0, issues=0, open_=0),
        "water": fig(reported=1, in_time=1)}
    assert desk.figures(by="street") == {"Xinjiekou": fig(reported=1, in_time=1)}
    # Added (追加) beside water: a second summons, due 24 h from now.
    desk.post("official", desk.on(issue, "summonses"), {"department": "housing"})
    assert desk.figures(by="street") == {"Xinjiekou": fig(summonses=2, reported=1, in_time=1)}


def test_extension_approved_moves_the_resolution_deadline(desk, auth, clock):
    issue = desk.whistle(["fire"], urgency="urgent")  # report due +2 h, resolve due +24 h
    desk.post("fire", desk.on(issue, "reports"), {"department": "fire", "officer": "Li"})
    desk.post("fire", desk.on(issue, "extensions"),
              {"until": "2026-05-04T17:00:00+08:00", "reason": "parts on order"})
    clock.advance(hours=30)
    assert desk.figures(keys=("fire",)) == {"fire": fig(reported=1, in_time=1, overdue=1)}
    assert [i["overdue"] for i in desk.issues()] == [True]
    desk.post("official", desk.on(issue, "extension-decisions"),
              {"department": "fire", "approve": True})
    assert desk.figures(keys=("fire",)) == {"fire": fig(reported=1, in_time=1, overdue=0)}
    listed = desk.issues()[0]
    assert listed["overdue"] is False
    assert listed["departments"][0]["resolve_due_at"] == "2026-05-04T09:00:00.000000+00:00"
    assert listed["departments"][0]["extension"] == "approved"
    clock.advance(hours=43)  # +73 h: past the extension too
    assert desk.figures(keys=("fire",)) == {"fire": fig(reported=1, in_time=1, overdue=1)}


def test_duplicate_leaves_every_figure(desk, auth):
    first = desk.whistle(["fire"])
    second = desk.whistle(["fire"])
    desk.post("fire", desk.on(second, "reports"), {"department": "fire", "officer": "Li"})
    assert desk.figures(keys=("fire",)) == {"fire": fig(summonses=2, reported=1, in_time=1,
                                                        issues=2, open_=2)}
    desk.post("fire", desk.on(second, "duplicate"), {"duplicate_of": first}, status=(403,))
    r = desk.client.post(desk.on(second, "duplicate"), json={"duplicate_of": str(uuid4())},
                         headers=auth["official"])
    assert r.status_code == 404
    desk.post("official", desk.on(second, "duplicate"), {"duplicate_of": first,
                                                          "reason": "the same fire lane"})
    assert desk.figures(keys=("fire",)) == {"fire": fig()}
    assert desk.figures(by="street") == {"Xinjiekou": fig()}
    closed = desk.issues(status="duplicate")
    assert [(i["issue_id"], i["duplicate_of"]) for i in closed] == [(second, first)]
    assert [i["issue_id"] for i in desk.issues(status="open")] == [first]
    inbox = desk.client.get("/v1/departments/fire/inbox", headers=auth["fire"]).json()["items"]
    assert [i["issue_id"] for i in inbox] == [first]


def test_followed_rebuilt_and_small_batches_agree(services, follower):
    """The issues view and the dashboard's rollups (kept by deltas, with rows
    that leave) equal a rebuild from the log, and a feed in batches of 3."""
    from projections.feed import drop, feed, rebuild, table_rows
    from projections.dashboard.view import DashboardView
    from projections.issues.view import IssuesView
    from tests.test_dashboard import stored_rollups

    g, at = services.governance, T0
    g.register_compound(**story.compound("HD-001"), at=at)
    ids = []
    for n in range(6):
        body = story.whistle(["fire", "police"], urgency="urgent" if n % 2 else "normal",
                             unit=None)
        g.blow_whistle("HD-001", grid_worker="Wang", at=at + timedelta(hours=n),
                       **{k: (str(v) if k == "issue_id" else v) for k, v in body.items()})
        ids.append(body["issue_id"])
    step = lambda h: at + timedelta(hours=h)  # noqa: E731
    g.decline("HD-001", ids[0], department="police", reason="not ours", at=step(7))
    g.decide_decline("HD-001", ids[0], department="police", accept=True, official="Z",
                     note=None, at=step(8))
    g.decline("HD-001", ids[1], department="fire", reason="not ours", at=step(7))
    g.summon_department("HD-001", ids[1], department="water", replaces="fire", official="Z",
                        reason=None, at=step(8))
    g.report_in("HD-001", ids[1], department="water", officer="Li", at=step(9))
    g.summon_department("HD-001", ids[2], department="housing", replaces=None, official="Z",
                        reason=None, at=step(8))
    g.report_in("HD-001", ids[3], department="fire", officer="Li", at=step(9))
    g.request_extension("HD-001", ids[3], department="fire", until=step(200), reason="r",
                        at=step(9))
    g.decide_extension("HD-001", ids[3], department="fire", approve=True, official="Z",
                       note=None, at=step(10))
    g.close_as_duplicate("HD-001", ids[4], duplicate_of=ids[5], official="Z", reason=None,
                         at=step(10))
    g.resolve("HD-001", ids[5], department="police", how="h", at=step(11))
    g.rate("HD-001", ids[5], rating="unsatisfied", comment=None, rated_by="w", at=step(12))
    g.escalate_due("HD-001", ids[0], at=step(60))
    follower.catch_up()
    issues, dashboard = IssuesView(), DashboardView()
    states = {(r[1], r[2]): r[3] for r in table_rows(services.log, issues)["summonses"]}
    assert states[(ids[0], "police")] == states[(ids[1], "fire")] == "ended"
    assert states[(ids[4], "fire")] == "closed" and len(states) == 14
    kept = {(r[1], r[2]) for r in table_rows(services.log, dashboard)["summonses"]}
    assert len(kept) == 10 and (ids[0], "police") not in kept and (ids[1], "water") in kept
    rebuild(services.log, [issues, dashboard], "chk_")
    with services.db.transaction() as cur:
        dashboard.rebuild_rollups(services.db, cur, "chk_")
    assert table_rows(services.log, issues, "chk_") == table_rows(services.log, issues, "")
    assert stored_rollups(services, dashboard, "chk_") == stored_rollups(services, dashboard, "")
    assert table_rows(services.log, dashboard, "chk_")["summonses"] == \
        table_rows(services.log, dashboard, "")["summonses"]
    with services.db.transaction() as cur:
        issues.create_tables(services.db, cur, "inc_")
        dashboard.create_tables(services.db, cur, "inc_")
    feed(services.log, [issues, dashboard], "inc_", batch_size=3)
    assert table_rows(services.log, issues, "inc_") == table_rows(services.log, issues, "")
    assert stored_rollups(services, dashboard, "inc_") == stored_rollups(services, dashboard, "")
    for prefix in ("chk_", "inc_"):
        drop(services.log, issues, prefix)
        drop(services.log, dashboard, prefix)


def test_the_agenda_drops_duplicates_and_ended_summonses(desk, auth, clock):
    """Eight days on, both issues are overdue on the agenda; the duplicate
    leaves it, and police, whose decline was accepted, is no longer late."""
    first = desk.whistle(["fire", "police"])
    second = desk.whistle(["fire"])
    desk.post("police", desk.on(first, "declines"), {"reason": "not ours"})
    desk.post("official", desk.on(first, "decline-decisions"),
              {"department": "police", "accept": True})
    desk.post("official", desk.on(second, "duplicate"), {"duplicate_of": first})

    def agenda() -> set[tuple[str, str, tuple]]:
        r = desk.client.get("/v1/compounds/HD-001/agenda",
                            params={"meeting_on": "2026-05-10", "after": desk.position},
                            headers=auth["admin"])
        assert r.status_code == 200, r.text
        return {(i["kind"], i.get("issue_id"), tuple(i["departments"]))
                for i in r.json()["items"] if i.get("issue_id")}

    assert agenda() == {("not_reported", first, ("fire",)), ("overdue", first, ("fire",))}
