"""One read of the log feeds several views: each gets every event it has not
seen exactly once, in order, however far behind the others it starts and
whatever the batch size (a rebuild reads larger batches than a follower)."""
from __future__ import annotations

import pytest

from projections import feed as base
from projections.feed import View, feed, rebuild, tracked_position
from audit.chain import events_table, position_column
from projections.registry import all_views
from service_layer.demo import load_demo


class Seen(View):
    """Stores each position it is fed; the primary key refuses a repeat."""
    tables = ("seen",)

    def __init__(self, name: str) -> None:
        self.name = name

    def create_tables(self, db, cur, prefix):
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table(db, prefix, 'seen')} "
                    "(pos BIGINT NOT NULL PRIMARY KEY)")

    def apply(self, db, cur, prefix, batch):
        for pos, _ in batch:
            cur.execute(f"INSERT INTO {self.table(db, prefix, 'seen')} (pos) VALUES (?)",
                        (self.stored(pos),))

    def stored(self, pos: int) -> int | None:
        return pos

    def positions(self, services, prefix=""):
        return [r[0] for r in services.db.fetchall(
            f"SELECT pos FROM {self.table(services.db, prefix, 'seen')} ORDER BY pos")]


@pytest.fixture
def log(services, clock):
    load_demo(services, clock())
    column = position_column(services.log)
    return [r[0] for r in services.db.fetchall(
        f"SELECT {column} FROM {events_table(services.log)} ORDER BY {column}")]


def test_a_view_behind_the_others_gets_only_what_it_has_not_seen(services, log):
    ahead, behind = Seen("seen_ahead"), Seen("seen_behind")
    with services.db.transaction() as cur:
        for view in (ahead, behind):
            view.create_tables(services.db, cur, "")
    middle = log[len(log) // 2]
    assert feed(services.log, ahead, until=middle, batch_size=13) == middle
    assert feed(services.log, [ahead, behind], batch_size=50) == log[-1]
    assert ahead.positions(services) == behind.positions(services) == log
    with services.db.transaction(commit=False) as cur:
        assert tracked_position(services.db, cur, "seen_behind") == log[-1]


def test_a_rebuild_in_large_batches_feeds_every_event_once(services, log, monkeypatch):
    monkeypatch.setattr(base, "REBUILD_BATCH", 64)  # several batches of the demo's log
    views = [Seen("seen_one"), Seen("seen_two")]
    assert rebuild(services.log, views, prefix="re_") == log[-1]
    for view in views:
        assert view.positions(services, "re_") == log


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_rebuild_leaves_the_planner_statistics_of_every_table_it_built(services, log):
    # Autovacuum would gather them only later: till then the planner guesses
    # the tables' sizes, and the first reads after a rebuild planned badly.
    views = all_views()
    rebuild(services.log, views)
    db = services.db
    tables = {view.table(db, "", b).split(".")[-1]: view.table(db, "", b)
              for view in views for b in view.tables}
    stats = dict(db.fetchall(
        "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_stat_user_tables s "
        "ON s.relid = c.oid WHERE c.relnamespace = ?::regnamespace "
        "AND s.last_analyze IS NOT NULL", (db.schema,)))
    assert sorted(stats) == sorted(tables)
    for name, qualified in tables.items():  # a table of the demo's size is read whole
        assert stats[name] == db.fetchall(f"SELECT COUNT(*) FROM {qualified}")[0][0], name
