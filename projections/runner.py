"""Keeps the live views following the log while `redwhistle serve` runs.

It polls rather than listens: SQLite has no notifications, and a short poll
keeps a write visible in the views well within a second on either engine.
"""
from __future__ import annotations

import threading
import time

from projections.base import View, ensure_tracking, feed, tracked_position
from service_layer.background import Background
from service_layer.bootstrap import Services


class ViewsFollower(Background):
    name = "views-follower"

    def __init__(self, services: Services, views: list[View], interval: float = 0.05) -> None:
        super().__init__(interval)
        self.services = services
        self.views = views
        self._feeding = threading.Lock()
        ensure_tracking(services.db)
        with services.db.transaction() as cur:
            for view in views:
                view.create_tables(services.db, cur, "")

    def catch_up(self) -> None:
        with self._feeding:  # the thread and a caller (a test, a CLI) take turns
            feed(self.services, self.views)

    tick = catch_up

    def position(self) -> int:
        """The lowest position all live views have reached."""
        db = self.services.db
        with db.transaction(commit=False) as cur:
            return min((tracked_position(db, cur, v.name) for v in self.views), default=0)

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Read-your-writes: True once every view has reached `position`."""
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True
