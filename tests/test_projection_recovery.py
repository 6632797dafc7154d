"""A projection killed mid-stream and restarted ends identical, row for row,
to a rebuild from zero: the position commits with the rows, so nothing is
applied twice or skipped."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from projections.feed import drop, rebuild, table_rows, tracked_position
from projections.registry import all_views
from service_layer.demo import load_demo

FOLLOW_SLOWLY = """
import time
from projections.feed import feed
from projections.registry import all_views
from service_layer.bootstrap import bootstrap
services = bootstrap()
views = all_views()
for v in views:  # slow each batch down so the kill lands mid-stream
    def slow(db, cur, prefix, batch, _apply=v.apply):
        time.sleep(0.02)
        _apply(db, cur, prefix, batch)
    v.apply = slow
with services.db.transaction() as cur:
    for v in views:
        v.create_tables(services.db, cur, "")
print("ready", flush=True)
for v in views:
    feed(services.log, v, batch_size=7)
time.sleep(60)
"""


def test_killed_follower_restarts_to_the_same_rows_as_a_rebuild(services, settings, clock):
    views = all_views()
    assert views, "no views registered"
    load_demo(services, clock())
    last = services.app.recorder.max_notification_id()
    env = dict(os.environ, DATABASE_URL=settings.database_url)
    follower = subprocess.Popen([sys.executable, "-c", FOLLOW_SLOWLY], env=env,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout.readline().strip() == "ready"
        first = views[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with services.db.transaction(commit=False) as cur:
                reached = tracked_position(services.db, cur, first.name)
            if reached > 0:
                break
            time.sleep(0.005)
        follower.send_signal(signal.SIGKILL)
        follower.wait(timeout=10)
    finally:
        if follower.poll() is None:
            follower.kill()
    with services.db.transaction(commit=False) as cur:
        reached = {v.name: tracked_position(services.db, cur, v.name) for v in views}
    assert 0 < reached[views[0].name] < last, reached  # killed mid-stream

    from projections.feed import ViewsFollower
    ViewsFollower(services.log, views).catch_up()  # the restart
    for view in views:
        rebuild(services.log, view, prefix="fresh_")
        try:
            assert table_rows(services.log, view) == table_rows(services.log, view, "fresh_"), view.name
        finally:
            drop(services.log, view, "fresh_")
