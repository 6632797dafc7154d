"""A rebuild shared among processes holds, row for row, what the live
follower holds; the shares are even by cost; a view that fails in another
process fails the rebuild; a batch folded before the write lock is taken
(SQLite's processes) writes the same rows, and never over another feeder's."""
from __future__ import annotations

import pytest

from adapters.settings import Settings
from projections.feed import (View, ViewsFollower, drop, feed, read_log, rebuild, table_rows,
                              tracked_position)
from projections.processes import shares
from projections.set_aside import set_aside
from projections.registry import all_views
from service_layer.bootstrap import bootstrap
from service_layer.demo import load_demo
from tests.test_issues_rebuild import history
from tests.test_projection_feed import Seen


class Costs(View):
    def __init__(self, name: str, cost: float) -> None:
        self.name, self.cost = name, cost

    def create_tables(self, db, cur, prefix):
        pass

    def apply(self, db, cur, prefix, batch):
        pass


def test_views_are_shared_evenly_by_cost():
    views = [Costs(n, c) for n, c in [("dashboard", 1.65), ("agenda", 0.7), ("rankings", 0.35),
                                       ("issues", 1.0)]]
    # costliest first, each to the group that costs least so far: dashboard
    # | issues | agenda to issues (1.0 < 1.65) | rankings to dashboard (1.7 > 1.65)
    two = [[v.name for v in g] for g in shares(views, 2)]
    assert two == [["dashboard", "rankings"], ["issues", "agenda"]]  # 2.00 / 1.70
    assert [len(g) for g in shares(views, 9)] == [1, 1, 1, 1]
    assert [[v.name for v in g] for g in shares(views, 1)] == [
        ["dashboard", "issues", "agenda", "rankings"]]


def test_all_views_rebuilt_in_two_processes_equal_the_followed_ones(services, follower, clock):
    history(services, clock)
    follower.catch_up()
    head = services.app.recorder.max_notification_id()
    views, seen = all_views(), []
    try:
        assert rebuild(services.log, views, "px_", progress=seen.append, processes=2) == head
        for view in views:
            assert table_rows(services.log, view, "px_") == table_rows(services.log, view), \
                view.name
        assert seen == sorted(seen) and seen[-1] == head
    finally:
        for view in views:
            drop(services.log, view, "px_")


class Fails(View):
    """Cannot fold anything, in whichever process it runs: not as a poison
    event (which is set aside) but as the database gone from under it."""
    name = "fails"
    cost = 5.0  # the costliest: the heavier share, fed in the other process ...

    def create_tables(self, db, cur, prefix):
        pass

    def apply(self, db, cur, prefix, batch):
        import psycopg
        raise psycopg.OperationalError("the database went away")


class FailsHere(Fails):
    name = "fails_here"
    cost = 0.0  # ... and this one here, with the lighter


@pytest.mark.parametrize("failing", [Fails, FailsHere])
def test_a_view_failing_in_either_process_fails_the_rebuild(services, clock, failing):
    history(services, clock)
    others = [v for v in all_views() if v.name in ("rankings", "agenda")]
    views = [failing(), *others]
    try:
        with pytest.raises(Exception, match="the database went away"):
            rebuild(services.log, views, "pf_", processes=2)
        with services.db.transaction(commit=False) as cur:
            assert tracked_position(services.db, cur, "pf_" + failing.name) == 0
    finally:
        for view in views:
            drop(services.log, view, "pf_")


SCRIPT = """
from adapters.settings import Settings
from projections.feed import rebuild
from projections.registry import all_views
from service_layer.bootstrap import bootstrap
services = bootstrap(Settings(database_url={url!r}))
print("rebuilt to", rebuild(services.log, all_views(), "sc_", processes=2))
services.close()
"""


def test_a_script_without_a_main_guard_rebuilds_once(tmp_path):
    """The other processes never import the caller's script again (as
    multiprocessing's would, rebuilding in each)."""
    import subprocess
    import sys
    script = tmp_path / "rebuild_all.py"
    script.write_text(SCRIPT.format(url=f"sqlite:///{tmp_path}/s.sqlite"))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["rebuilt to 0"]


@pytest.fixture
def sqlite_services(tmp_path, clock):
    """Folding before the write lock is SQLite's alone (PostgreSQL lets
    processes write at once)."""
    services = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/deferred.sqlite"),
                         clock=clock)
    try:
        yield services
    finally:
        services.close()


def test_folding_before_the_write_lock_writes_the_same_rows(sqlite_services, clock):
    """What each process of a shared rebuild on SQLite does: a batch folded in
    a reading transaction, its writes run afterwards in a writing one."""
    services = sqlite_services
    history(services, clock)
    ViewsFollower(services.log, all_views()).catch_up()
    views = all_views()
    with services.db.transaction() as cur:
        for view in views:
            view.create_tables(services.db, cur, "dw_")
    try:
        feed(services.log, views, "dw_", batch_size=7, defer_writes=True)
        for view in views:
            assert table_rows(services.log, view, "dw_") == table_rows(services.log, view), \
                view.name
    finally:
        for view in views:
            drop(services.log, view, "dw_")


class Raced(Seen):
    """While its first batch is folded, another feeder folds the same batch
    and commits: the deferred writes must not be written over it (its table
    has no key, so a repeat would be stored twice)."""
    name = "raced"

    def __init__(self, log) -> None:
        self.log, self.raced = log, False

    def create_tables(self, db, cur, prefix):
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table(db, prefix, 'seen')} (pos BIGINT)")

    def apply(self, db, cur, prefix, batch):
        if not self.raced:
            self.raced = True
            feed(self.log, self, prefix, until=batch[-1][0])  # commits first
        super().apply(db, cur, prefix, batch)


def test_a_batch_fed_meanwhile_by_another_feeder_is_not_written_twice(sqlite_services, clock):
    services = sqlite_services
    load_demo(services, clock())
    view = Raced(services.log)
    with services.db.transaction() as cur:
        view.create_tables(services.db, cur, "")
    head = feed(services.log, view, batch_size=50, defer_writes=True)
    assert view.raced and view.positions(services) == [
        p for batch in read_log(services.log, 0, 1000) for p, _ in batch]
    assert head == services.app.recorder.max_notification_id()


class RefusedAt(Seen):
    """Its write for one position breaks a constraint: found only when the
    kept writes run, after the fold."""
    name = "refused_at"

    def __init__(self, position: int) -> None:
        self.position = position

    def stored(self, pos: int) -> int | None:
        return None if pos == self.position else pos  # NOT NULL refuses it


def test_a_write_refused_after_the_fold_sets_its_event_aside(sqlite_services, clock):
    services = sqlite_services
    load_demo(services, clock())
    log = [p for batch in read_log(services.log, 0, 1000) for p, _ in batch]
    view = RefusedAt(log[40])
    with services.db.transaction() as cur:
        view.create_tables(services.db, cur, "")
    assert feed(services.log, view, batch_size=50, defer_writes=True) == log[-1]
    assert view.positions(services) == [p for p in log if p != log[40]]
    assert [(e["view"], e["position"]) for e in set_aside(services.log)] == [
        ("refused_at", log[40])]
