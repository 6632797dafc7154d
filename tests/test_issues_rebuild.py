"""Issue 14's rebuild: the issues view (which Open311 reads too) rebuilt from
the log holds, row for row, what the live follower holds, whatever the
rebuild's batch, and also when a batch is rolled back under it (another view's
failure, or an error of the database) and applied again."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from domain.compound import Compound
from projections import feed as base
from projections.feed import View, drop, feed, read_log, rebuild, table_rows
from projections.issues.view import IssuesView
from projections.set_aside import set_aside
from service_layer.demo import load_demo
from tests import story


def history(services, clock) -> None:
    """The demo district, then push-back facts on whistles of their own, each
    a few batches of a small rebuild after its whistle, so that rows blown in
    one batch change in later ones."""
    g = services.governance
    load_demo(services, clock())
    code = "HU-001"  # the demo's first compound (Huayuan)
    at = clock() + timedelta(hours=1)
    ids = story.whistles_blown(g, code, at, [
        story.whistle(["fire", "police"], unit=None, grid=f"{code}-G1") for _ in range(4)])
    later = lambda h: at + timedelta(hours=h)  # noqa: E731
    g.decline(code, ids[0], department="police", reason="not ours", at=later(2))
    g.decide_decline(code, ids[0], department="police", accept=True, official="Z", note=None,
                     at=later(3))
    g.summon_department(code, ids[0], department="water", replaces=None, official="Z",
                        reason=None, at=later(3))
    g.report_in(code, ids[1], department="fire", officer="Li", at=later(4))
    g.request_extension(code, ids[1], department="fire", until=later(300), reason="parts",
                        at=later(5))
    g.decide_extension(code, ids[1], department="fire", approve=True, official="Z", note=None,
                       at=later(6))
    g.close_as_duplicate(code, ids[2], duplicate_of=ids[3], official="Z", reason=None,
                         at=later(6))
    g.resolve(code, ids[3], department="fire", how="cleared", at=later(7))
    g.rate(code, ids[3], rating="unsatisfied", comment=None, rated_by="w", at=later(8))
    g.resolve(code, ids[3], department="fire", how="cleared again", at=later(9))


VIEWS = (IssuesView,)


def assert_same_rows(services, prefix: str) -> None:
    for view in (v() for v in VIEWS):
        assert table_rows(services.log, view, prefix) == table_rows(services.log, view), view.name


@pytest.mark.parametrize("batch", [40, 10_000])
def test_a_rebuild_equals_the_followed_views(services, follower, clock, monkeypatch, batch):
    history(services, clock)
    follower.catch_up()
    monkeypatch.setattr(base, "REBUILD_BATCH", batch)
    views = [v() for v in VIEWS]
    try:
        rebuild(services.log, views, "re_")
        assert_same_rows(services, "re_")
    finally:
        for view in views:
            drop(services.log, view, "re_")
    # and followed from the start in batches of 7 (an issue's events fall apart)
    with services.db.transaction() as cur:
        for view in views:
            view.create_tables(services.db, cur, "inc_")
    try:
        feed(services.log, views, "inc_", batch_size=7)
        assert_same_rows(services, "inc_")
    finally:
        for view in views:
            drop(services.log, view, "inc_")


class FailsOn(View):
    """A view that cannot fold the event at one position: its batch is rolled
    back for every view and applied again view by view."""
    name = "fails_on"
    tables = ()

    def __init__(self, position: int, error: type[Exception] = ValueError) -> None:
        self.position, self.error = position, error

    def create_tables(self, db, cur, prefix):
        pass

    def apply(self, db, cur, prefix, batch):
        if any(p == self.position for p, _ in batch):
            raise self.error(f"cannot fold {self.position}")


def last_reopening(services) -> tuple[int, int]:
    """(events before it, its position) of the last reopening in the log: the
    history's own, well after its whistle."""
    log = [(p, e) for batch in read_log(services.log, 0, 1000) for p, e in batch]
    return max((n, p) for n, (p, e) in enumerate(log) if type(e) is Compound.IssueReopened)


def test_a_batch_rolled_back_under_the_views_is_folded_once(services, follower, clock,
                                                           monkeypatch):
    """The reopening's batch (its issue blown in the batch before) is folded
    by the issues view, rolled back when the other view fails on that very
    event, and folded again: the reopening counts once."""
    history(services, clock)
    follower.catch_up()
    before, poison = last_reopening(services)
    monkeypatch.setattr(base, "REBUILD_BATCH", before)  # the reopening begins a batch
    views = [IssuesView(), FailsOn(poison)]
    try:
        rebuild(services.log, views, "re_")
        assert_same_rows(services, "re_")
        assert [(a["view"], a["position"]) for a in set_aside(services.log, "re_")] == [
            ("fails_on", poison)]
    finally:
        for view in views:
            drop(services.log, view, "re_")


def test_a_rebuild_cut_short_by_the_database_goes_on_to_the_same_rows(services, follower,
                                                                      clock, monkeypatch):
    """An error of the database stops the rebuild mid-way; the next feed of
    the same views (the same objects) ends where the followed views are."""
    history(services, clock)
    follower.catch_up()
    before, poison = last_reopening(services)
    monkeypatch.setattr(base, "REBUILD_BATCH", before)
    failing = FailsOn(poison, sqlite3.OperationalError)  # transient: nothing set aside
    views = [IssuesView()]
    try:
        with pytest.raises(Exception, match=f"cannot fold {poison}"):  # (perhaps wrapped)
            rebuild(services.log, [*views, failing], "re_")
        feed(services.log, views, "re_")
        assert_same_rows(services, "re_")
    finally:
        for view in views:
            drop(services.log, view, "re_")


def test_kept_rows_are_the_last_touched_and_only_as_of_their_position():
    from projections.issues.kept import Kept
    kept = Kept(size=2)
    row = lambda n: ({"issue_id": n}, {})  # noqa: E731
    kept.keep({("C", "a"): row("a"), ("C", "b"): row("b")}, 10)
    kept.keep({("C", "a"): row("a2"), ("C", "c"): row("c")}, 20)  # b was touched least lately
    assert sorted(kept.take([("C", "a"), ("C", "b"), ("C", "c")])) == [("C", "a"), ("C", "c")]
    assert kept.take([("C", "a")])[("C", "a")][0] == {"issue_id": "a2"}
    kept.as_of(20)
    assert len(kept.take([("C", "a"), ("C", "c")])) == 2
    kept.as_of(15)  # the batch that ended at 20 was rolled back
    assert kept.take([("C", "a"), ("C", "c")]) == {}
