"""Keeps the live views following the log while `redwhistle serve` runs.

It polls rather than listens: SQLite has no notifications, and a short poll
keeps a write visible in the views well within a second on either engine.
"""
from __future__ import annotations

import logging
import threading
import time

from projections.base import View, ensure_tracking, feed, tracked_position
from service_layer.bootstrap import Services

log = logging.getLogger("redwhistle.projections")


class ViewsFollower:
    def __init__(self, services: Services, views: list[View], interval: float = 0.05) -> None:
        self.services = services
        self.views = views
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._feeding = threading.Lock()
        ensure_tracking(services.db)
        with services.db.transaction() as cur:
            for view in views:
                view.create_tables(services.db, cur, "")

    def catch_up(self) -> None:
        with self._feeding:  # the thread and a caller (a test, a CLI) take turns
            feed(self.services, self.views)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="views-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
            except Exception:  # noqa: BLE001 - keep following; the error is logged
                log.exception("projection batch failed; retrying")
                self._stop.wait(1.0)
            self._stop.wait(self.interval)

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
