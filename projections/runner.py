"""Keeps the live views following the log, and tells how far they are.

It polls rather than listens: SQLite has no notifications, and a short poll
keeps a write visible in the views well within a second on either engine.
`redwhistle follow` runs the follower in a process of its own (started by
`serve`), so readers ask the database, not the follower, how far the views
are: `views_position` and `wait_for_views` work from any process.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from projections.feed import View, feed, tracked_position
from adapters.background import Background
from service_layer.bootstrap import Services
from adapters.migrate import hold_tables_lock


def create_view_tables(services: Services, views: Sequence[View]) -> None:
    """The live views' tables, so readers find them before the follower has run."""
    with services.db.transaction() as cur:
        hold_tables_lock(services.db, cur)  # serve and follow start together
        for view in views:
            view.create_tables(services.db, cur, "")


def views_position(services: Services, views: Sequence[View]) -> int:
    """The lowest position the given live views have reached."""
    db = services.db
    with db.transaction(commit=False) as cur:
        return min((tracked_position(db, cur, v.name) for v in views), default=0)


def wait_for_views(services: Services, views: Sequence[View], position: int,
                   timeout: float = 5.0) -> bool:
    """Read-your-writes: True once every view has reached `position`."""
    deadline = time.monotonic() + timeout
    while views_position(services, views) < position:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class TooManyWaiters(RuntimeError):
    """More readers wait for the views than the process parks (HTTP 503)."""


class ViewsWatch:
    """Read-your-writes for the API without a thread per waiting reader: the
    waiters park on the event loop, and one poller asks the database how far
    the views are (one query per tick, however many wait) and wakes those
    whose position is reached. At most `limit` wait at once."""

    def __init__(self, services: Services, views: Sequence[View], limit: int,
                 interval: float = 0.01) -> None:
        self.services = services
        self.views = views
        self.limit = limit
        self.interval = interval
        self._waiters: dict[asyncio.Future, int] = {}
        self._poller: asyncio.Task | None = None

    async def wait(self, position: int, timeout: float) -> bool:
        """True once every view has reached `position`; False after `timeout`."""
        if len(self._waiters) >= self.limit:
            raise TooManyWaiters(f"{len(self._waiters)} readers already wait for the views")
        loop = asyncio.get_running_loop()
        reached = loop.create_future()
        self._waiters[reached] = position
        if self._poller is None or self._poller.done() or self._poller.get_loop() is not loop:
            self._poller = loop.create_task(self._poll())
        try:
            return await asyncio.wait_for(reached, timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            self._waiters.pop(reached, None)

    async def _poll(self) -> None:
        while self._waiters:
            try:
                # In a thread of its own: the query must not stall the loop.
                at = await asyncio.to_thread(views_position, self.services, self.views)
            except Exception as exc:  # noqa: BLE001 - each waiter hears of it
                for waiter in list(self._waiters):
                    if not waiter.done():
                        waiter.set_exception(exc)
                return
            for waiter, position in list(self._waiters.items()):
                if position <= at and not waiter.done():
                    waiter.set_result(True)
            await asyncio.sleep(self.interval)


class ViewsFollower(Background):
    name = "views-follower"

    def __init__(self, services: Services, views: list[View], interval: float = 0.05) -> None:
        super().__init__(interval)
        self.services = services
        self.views = views
        self._feeding = threading.Lock()
        create_view_tables(services, views)

    def catch_up(self) -> None:
        with self._feeding:  # the thread and a caller (a test, a CLI) take turns
            feed(self.services, self.views)

    tick = catch_up

    def position(self) -> int:
        return views_position(self.services, self.views)

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        return wait_for_views(self.services, self.views, position, timeout)
