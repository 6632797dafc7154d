"""What Open311 reads of the issues view (docs/open311.md): each issue's
departments, status, status notes and media link and each compound's location
say what the compound's own history says, and the view rebuilt or fed a few
events a batch holds the same rows."""
from __future__ import annotations

from datetime import timedelta

from projections.feed import table_rows
from projections.issues.view import COMPOUND_COLUMNS, ISSUE_COLUMNS, IssuesView
from projections.moments import moment
from service_layer.demo import load_demo
from tests import story
from tests.views import rebuilt_and_fed


def push_back(services, clock, code: str) -> list[str]:
    """Whistles on `code` whose departments change after they were blown."""
    g, at = services.governance, clock() + timedelta(hours=1)
    ids = story.whistles_blown(g, code, at, [
        story.whistle(["fire", "police"], unit=None, grid=f"{code}-G1",
                      media_url="https://example.org/a.jpg" if n == 0 else None)
        for n in range(3)])
    later = lambda h: at + timedelta(hours=h)  # noqa: E731
    g.decline(code, ids[0], department="police", reason="not ours", at=later(2))
    g.decide_decline(code, ids[0], department="police", accept=True, official="Z", note=None,
                     at=later(3))
    g.summon_department(code, ids[1], department="water", replaces="fire", official="Z",
                        reason=None, at=later(3))
    g.summon_department(code, ids[1], department="housing", replaces=None, official="Z",
                        reason=None, at=later(4))
    g.close_as_duplicate(code, ids[2], duplicate_of=ids[1], official="Z", reason="same lane",
                         at=later(5))
    return ids


def test_open311_fields_follow_the_aggregates(services, follower, clock):
    g = services.governance
    count = load_demo(services, clock())
    follower.catch_up()
    view = IssuesView()
    codes = sorted(r[0] for r in table_rows(services.log, view)["compounds"])
    assert len(codes) == count
    g.locate_compound(codes[0], latitude=39.9, longitude=116.3, address="A 路 1 号",
                      zipcode="100080")
    g.locate_compound(codes[0], latitude=39.91, longitude=116.31, address=None, zipcode=None)
    g.locate_compound(codes[1], latitude=39.95, longitude=116.35, address="B 路 2 号",
                      zipcode="100081")
    ids = push_back(services, clock, codes[2])
    follower.catch_up()
    with rebuilt_and_fed(services.log, view, batch_size=7):  # an issue's events fall apart
        pass

    rows = {r[1]: dict(zip(ISSUE_COLUMNS, r)) for r in table_rows(services.log, view)["issues"]}
    issues = [(c, i) for c in map(g.compound, codes) for i in c.issues.values()]
    assert len(rows) == len(issues) > 100
    for compound, issue in issues:
        row = rows[issue["issue_id"]]
        assert (row["compound"], row["category"]) == (compound.code, issue["category"])
        assert row["status"] == issue["status"]
        assert row["departments"].split(",") == issue["departments"]
        assert row["resolve_due_at"] == moment(issue["resolve_due_at"])
        assert row["media_url"] == issue.get("media_url")
        notes = [(p["at"], p["note"]) for p in issue["progress"]]
        notes += [(r["at"], r["how"]) for r in issue["resolutions"]]
        if notes and not issue["reopened"]:
            assert row["status_notes"] == max(notes, key=lambda n: n[0])[1]
    assert [rows[i]["departments"] for i in ids] == ["fire", "police,water,housing",
                                                     "fire,police"]
    assert rows[ids[0]]["media_url"] == "https://example.org/a.jpg"
    assert (rows[ids[2]]["status"], rows[ids[2]]["status_notes"]) == (
        "duplicate", f"duplicate of {ids[1]}: same lane")
    located = {r[0]: dict(zip(COMPOUND_COLUMNS, r))
               for r in table_rows(services.log, view)["compounds"]}
    assert [located[codes[0]][k] for k in ("latitude", "longitude", "address", "zipcode")] == [
        39.91, 116.31, None, None]
    assert [located[codes[1]][k] for k in ("latitude", "longitude", "address", "zipcode")] == [
        39.95, 116.35, "B 路 2 号", "100081"]
