"""The deadline watcher escalates each missed deadline exactly once, across
repeated passes, restarts and two watchers racing (SQLite and PostgreSQL)."""
from __future__ import annotations

import threading
import time

from domain.compound import Compound
from projections.feed import read_log
from service_layer.deadline_watcher import DeadlineWatcher
from service_layer.bootstrap import bootstrap
from tests import story

URL = "/v1/dashboard/response-rates"
MAY = {"from": "2026-05-01", "to": "2026-05-09"}


def escalations(services) -> list[tuple[str, str]]:
    """(issue, key) of every IssueEscalated in the log."""
    return [(e.issue_id, e.key) for batch in read_log(services.log, 0) for _, e in batch
            if isinstance(e, Compound.IssueEscalated)]


def setup_issue(client, auth, departments=("fire", "police"), code="HD-001") -> str:
    """A normal whistle at 1 May 09:00 UTC: report-in due 2 May 09:00, resolution 8 May 09:00."""
    client.post("/v1/compounds", json=story.compound(code), headers=auth["official"])
    body = story.whistle(list(departments))
    r = client.post(f"/v1/compounds/{code}/whistles", json=body, headers=auth["grid_worker"])
    assert r.status_code == 201, r.text
    return body["issue_id"]


def settle(services, follower) -> None:
    """Waits for the running follower to reach the end of the log. (Calling
    catch_up() beside the running follower would feed the views twice at once.)"""
    assert follower.wait_for(services.app.recorder.max_notification_id() or 0)


def dashboard(client, auth, by="department") -> dict[str, dict]:
    r = client.get(URL, params=dict(MAY, by=by), headers=auth["viewer"])
    return {row["key"]: row for row in r.json()["rows"]}


def test_escalates_once_then_again_at_the_next_deadline(client, auth, clock, services, follower):
    issue = setup_issue(client, auth)
    path = f"/v1/compounds/HD-001/issues/{issue}"
    client.post(f"{path}/reports", json={"department": "fire", "officer": "Li"},
                headers=auth["fire"])
    watcher = DeadlineWatcher(services.log, services.governance)
    settle(services, follower)
    clock.advance(hours=23, minutes=59)
    assert watcher.candidates() == [] and watcher.tick() == 0

    clock.advance(minutes=1)  # police's report-in deadline
    settle(services, follower)
    assert watcher.candidates() == [("HD-001", issue)]
    assert watcher.tick() == 1
    assert watcher.tick() == 0  # asked again (if the view lags) and nothing is written
    settle(services, follower)
    assert watcher.candidates() == [] and watcher.tick() == 0
    state = client.get(path, headers=auth["viewer"]).json()
    assert state["level"] == "district"
    assert [e["key"] for e in state["escalations"]] == ["not_reported:police"]
    got = dashboard(client, auth)
    assert (got["police"]["escalated"], got["fire"]["escalated"]) == (1, 0)
    assert got["police"]["overdue"] == 1
    assert dashboard(client, auth, "street")["Xinjiekou"]["escalated"] == 1

    clock.advance(days=6)  # 8 May 09:00: unresolved
    settle(services, follower)
    assert watcher.tick() == 1
    settle(services, follower)
    assert DeadlineWatcher(services.log, services.governance).tick() == 0  # a restarted watcher finds nothing to do
    state = client.get(path, headers=auth["viewer"]).json()
    assert state["level"] == "city"
    assert [e["key"] for e in state["escalations"]] == ["not_reported:police", "not_resolved:0"]
    assert dashboard(client, auth)["fire"]["escalated"] == 1  # not_resolved names both
    assert escalations(services) == [(issue, "not_reported:police"), (issue, "not_resolved:0")]


def test_a_reopened_issue_has_a_new_resolution_deadline(client, auth, clock, services, follower):
    issue = setup_issue(client, auth, departments=("fire",))
    path = f"/v1/compounds/HD-001/issues/{issue}"
    for step, body, who in [("reports", {"department": "fire", "officer": "Li"}, "fire"),
                            ("resolution", {"department": "fire", "how": "x"}, "fire"),
                            ("ratings", {"rating": "unsatisfied"}, "grid_worker")]:
        assert client.post(f"{path}/{step}", json=body, headers=auth[who]).status_code == 201
    watcher = DeadlineWatcher(services.log, services.governance)
    clock.advance(days=6, hours=23)
    settle(services, follower)
    assert watcher.tick() == 0  # reopened at 1 May 09:00: resolution due 8 May 09:00
    clock.advance(hours=1)
    settle(services, follower)
    assert watcher.tick() == 1
    settle(services, follower)
    assert watcher.tick() == 0
    assert escalations(services) == [(issue, "not_resolved:1")]


def test_restart_records_nothing_twice(services, clock, follower):
    """No client here, so no follower thread: the test decides when the view
    catches up, and can show a watcher working from a stale view."""
    g, issues = services.governance, []
    for n in range(1, 4):
        g.register_compound(**dict(story.compound(f"HD-00{n}")))
        body = story.whistle(["fire", "police"])
        g.blow_whistle(f"HD-00{n}", grid_worker="w", **dict(body, unit=None))
        issues.append(body["issue_id"])
    clock.advance(days=2)
    follower.catch_up()
    assert DeadlineWatcher(services.log, services.governance).tick() == 3
    # Restarted before the view has seen the escalations: it asks again, and
    # the compounds say there is nothing left to record.
    stale = DeadlineWatcher(services.log, services.governance)
    assert len(stale.candidates()) == 3 and stale.tick() == 0
    follower.catch_up()
    assert DeadlineWatcher(services.log, services.governance).candidates() == []
    assert sorted(escalations(services)) == sorted(
        (i, f"not_reported:{d}") for i in issues for d in ("fire", "police"))


def test_two_watchers_at_once_still_once(client, auth, clock, services, settings, follower):
    issues = [setup_issue(client, auth, code=f"HD-0{n:02d}") for n in range(8)]
    clock.advance(days=8)  # report-in and resolution both overdue
    settle(services, follower)
    other = bootstrap(settings, clock=clock)  # a second process: its own pool and locks
    try:
        watchers = [DeadlineWatcher(services.log, services.governance), DeadlineWatcher(other.log, other.governance)]
        barrier, done = threading.Barrier(2), []

        def run(w: DeadlineWatcher) -> None:
            barrier.wait()
            done.append(w.tick())

        threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sum(done) == 8  # every issue escalated by exactly one of the two
    finally:
        other.close()
    recorded = escalations(services)
    assert len(recorded) == len(set(recorded)) == 8 * 3
    assert sorted(recorded) == sorted(
        (i, k) for i in issues for k in ("not_reported:fire", "not_reported:police",
                                         "not_resolved:0"))
    settle(services, follower)
    levels = {client.get(f"/v1/compounds/HD-0{n:02d}/issues/{i}",
                         headers=auth["viewer"]).json()["level"] for n, i in enumerate(issues)}
    assert levels == {"district"}  # escalations found together raise one level


def test_runs_in_the_background(client, auth, clock, services, follower):
    issue = setup_issue(client, auth)
    clock.advance(days=1)
    watcher = DeadlineWatcher(services.log, services.governance, interval=0.05)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while not escalations(services) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()
    assert escalations(services) == [(issue, "not_reported:fire"), (issue, "not_reported:police")]
