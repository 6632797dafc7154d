"""What a read model is, and how one is fed.

A view owns a few tables in the same database as the events. It is fed
batches of (position, domain event) in log order, and the position it has
reached is written in the same transaction as its rows, so a crash never
applies an event twice or skips one. Every table name goes through
`View.table(prefix, base)`: the live view has prefix "", while an audit or a
rebuild can build the same view into scratch tables beside it and query them
with the very same code. An event a view cannot fold is set aside for that
view (projections/set_aside.py) rather than stopping it.

One module, though long: what a view is, how it is fed, rebuilt and followed
live is the one interface every view builds on (issue 12).
"""
from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from projections import set_aside, unlogged
from adapters.background import Background
from adapters.eventstore import Log
from adapters.db import Cursor, Database, DeferredWrites
from adapters.limits import EARLIEST, FIRST_MOMENT, LAST_MOMENT, LATEST
from adapters.migrate import hold_tables_lock

logger = logging.getLogger("redwhistle.views")

Batch = Sequence[tuple[int, Any]]  # (position in the log, decoded domain event)

TRACKING = "rw_tracking"

# A rebuild reads the log in larger batches than a follower: every batch costs
# each view a few statements whatever its size, and an issue whose whistle,
# report-ins and resolution fall in one batch is folded in memory and written
# once instead of once a batch. Ten thousand events (a few weeks of a
# district) trade memory, which grows with the batch and not with the log,
# for speed (bench/README.md, "Figures behind the code's choices").
REBUILD_BATCH = 10_000
# Meanwhile the cyclic garbage collector runs less often: by default it runs
# after every 700 new objects and every hundred or so runs walks every live
# object, the whole batch again. Decoded events and view rows are freed by
# reference counting (they make no cycles), so collecting less often frees
# nothing later.
REBUILD_GC_THRESHOLD = 50_000
# On PostgreSQL a rebuild of at least this many positions writes its tables
# unlogged (projections/unlogged.py). Rewriting every table twice is a fixed
# cost: 6% slower at 52,855 events, even at a million, 17% faster folding at
# three million (bench/README.md, "Unlogged rebuilds and kept rows").
UNLOGGED_FROM = 1_000_000
_gc_lock = threading.Lock()
_gc_rebuilds = 0
_gc_saved = gc.get_threshold()


class View(ABC):
    name: str = ""
    tables: tuple[str, ...] = ()  # base names, e.g. ("summonses", "issues")
    # What folding the log costs this view beside the others (seconds of CPU
    # over the same log, bench/README.md), to share a rebuild among
    # processes evenly (projections/processes.py).
    cost: float = 1.0
    # Tables whose rows a rebuild rewrites batch after batch, rather than
    # only adds to (projections/unlogged.py leaves room for them).
    rewritten: tuple[str, ...] = ()

    def table(self, db: Database, prefix: str, base: str) -> str:
        return db.table(f"{prefix}rw_{self.name}_{base}")

    @abstractmethod
    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        """CREATE TABLE IF NOT EXISTS for every table (and its indexes)."""

    @abstractmethod
    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        """Folds a batch of events into the tables, inside the caller's
        transaction. Reads what it needs before it writes: a rebuild shared
        among processes on SQLite runs the writes afterwards (`feed`'s
        `defer_writes`)."""

    def begin_rebuild(self, db: Database, cur: Cursor, prefix: str) -> None:
        """Called on freshly created, empty tables before they are fed the log
        from the start. A view may then put off upkeep that is far cheaper
        done once over the finished rows than batch by batch (see `settle`)."""

    def settle(self, db: Database, cur: Cursor, prefix: str) -> None:
        """Called when a feed that read events stops: completes any upkeep put
        off since `begin_rebuild`. Must be cheap when there is none. A rebuild
        cut short by a crash is settled by the next feed that reads events;
        until then the view must still answer correctly, if more slowly."""

    def drop_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        for base in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {self.table(db, prefix, base)}")


def tracking_table(db: Database) -> str:
    return db.table(TRACKING)  # (made by adapters/migrations/)


def tracked_position(db: Database, cur: Cursor, key: str, lock: bool = False) -> int:
    """The position a view has reached. With `lock` (inside a writing
    transaction) PostgreSQL holds the tracking row until commit, so two
    followers of one view take turns instead of applying a batch twice."""
    suffix = " FOR UPDATE" if lock and db.is_postgres else ""
    cur.execute(f"SELECT position FROM {tracking_table(db)} WHERE view = ?{suffix}", (key,))
    row = cur.fetchone()
    return int(row[0]) if row else 0


def set_position(db: Database, cur: Cursor, key: str, position: int) -> None:
    cur.execute(f"INSERT INTO {tracking_table(db)} (view, position) VALUES (?, ?) "
                "ON CONFLICT (view) DO UPDATE SET position = excluded.position", (key, position))


def read_log(log: Log, after: int, limit: int = 1000,
             until: int | None = None) -> Iterator[list[tuple[int, Any]]]:
    """Decoded events after `after`, in batches of at most `limit`, up to and
    including `until` when given. Positions have gaps: never assume +1."""
    recorder, mapper = log.app.recorder, log.app.mapper
    while True:
        notifications = recorder.select_notifications(start=after, limit=limit, stop=until,
                                                      inclusive_of_start=False)
        if not notifications:
            return
        batch = [(n.id, mapper.to_domain_event(n)) for n in notifications]
        more = len(notifications) == limit
        del notifications  # the stored form is not needed while the caller works
        after = batch[-1][0]
        yield batch
        # Not held while the next one is read and decoded, nor may the caller
        # hold it: two batches of a rebuild's size alive at once are a sixth
        # of a rebuild's peak memory.
        del batch
        if not more:
            return


def _as_list(views: View | Sequence[View]) -> list[View]:
    return [views] if isinstance(views, View) else list(views)


def _in_window(events: Batch) -> None:
    """Raises for an event recorded outside the dates every view can fold
    (adapters/limits.py), before any view tries: one in the year 9999
    made the dashboard fill every day from now to then."""
    for _, event in events:
        at = getattr(event, "at", None)
        if at is not None and not FIRST_MOMENT < at < LAST_MOMENT:
            raise ValueError(f"at {at.isoformat()} must be between {EARLIEST} and {LATEST}")


Apply = Callable[[Database, Cursor, str, View, Batch], None]


def _apply_together(db: Database, cur: Cursor, prefix: str, view: View, events: Batch) -> None:
    view.apply(db, cur, prefix, events)


def _apply_apart(db: Database, cur: Cursor, prefix: str, view: View, events: Batch) -> None:
    """Applies `events` in a savepoint; when that fails for the events' sake,
    halves them and tries each half in turn, down to the single event that
    fails, which is set aside (a few savepoints per bad event rather than
    one per event; the events keep their order). Views keep no state between
    calls of `apply` and take batches of any size, so the rows folded are
    those one batch without the bad events would have folded."""
    cur.execute("SAVEPOINT rw_apart")
    try:
        _in_window(events)
        view.apply(db, cur, prefix, events)
    except Exception as exc:  # noqa: BLE001 - sorted out just below
        if set_aside.transient(exc):
            raise
        cur.execute("ROLLBACK TO SAVEPOINT rw_apart")
        cur.execute("RELEASE SAVEPOINT rw_apart")
        if len(events) == 1:
            set_aside.record(db, cur, prefix, view.name, events[0][0], events[0][1], exc)
            return
        half = len(events) // 2
        _apply_apart(db, cur, prefix, view, events[:half])
        _apply_apart(db, cur, prefix, view, events[half:])
        return
    cur.execute("RELEASE SAVEPOINT rw_apart")


def _apply(db: Database, cur: Cursor, views: list[View], keys: list[str], prefix: str,
           after: int, batch: Batch, apply: Apply) -> None:
    """One batch into every view, in the caller's transaction."""
    for view, key in zip(views, keys):
        # Read under lock: another follower may have moved this view on
        # since; it then gets only what is new to it, never a repeat.
        current = tracked_position(db, cur, key, lock=True)
        if current < after or current >= batch[-1][0]:
            continue  # rebuilt meanwhile (next round), or nothing new
        apply(db, cur, prefix, view, batch if current == after
              else [(p, e) for p, e in batch if p > current])
        set_position(db, cur, key, batch[-1][0])


def _apply_deferred(db: Database, views: list[View], keys: list[str], prefix: str,
                    after: int, batch: Batch) -> None:
    """`_apply` folding in a reading transaction and writing what it kept in a
    short writing one (`DeferredWrites`): processes that share a rebuild of
    a SQLite store then take turns only for their writes. When a view's
    position moved in between (another feeder), the batch is folded again
    under the write lock."""
    with db.transaction(commit=False) as cur:
        seen = [tracked_position(db, cur, key) for key in keys]
        kept = DeferredWrites(cur)
        _apply(db, kept, views, keys, prefix, after, batch, _apply_together)
    with db.transaction() as cur:
        if [tracked_position(db, cur, key) for key in keys] == seen:
            kept.replay(cur)
        else:
            _apply(db, cur, views, keys, prefix, after, batch, _apply_together)


def feed(log: Log, views: View | Sequence[View], prefix: str = "",
         until: int | None = None, batch_size: int = 1000,
         progress: Callable[[int], None] | None = None, defer_writes: bool = False) -> int:
    """Brings views up to date with the log (or up to `until`) and returns the
    lowest position they reached. The log is read and decoded once for all of
    them; each batch commits together with every view's tracking row, and a
    view behind the others gets only the events it has not seen. `progress`
    is told the position reached after each batch. `defer_writes`: on
    SQLite each batch is folded before the write lock is taken
    (`_apply_deferred`), for views whose `apply` reads everything it needs
    before it writes (PostgreSQL lets processes write at once)."""
    db, views = log.db, _as_list(views)
    keys = [prefix + v.name for v in views]
    with db.transaction() as cur:
        for key in keys:
            cur.execute(f"INSERT INTO {tracking_table(db)} (view, position) VALUES (?, 0) "
                        "ON CONFLICT (view) DO NOTHING", (key,))
        for view in unlogged.lost(db, cur, views, prefix):
            logger.warning("view %s lost its rows in a crash of PostgreSQL while it was "
                           "rebuilt; rebuilding it from the start", prefix + view.name)
            hold_tables_lock(db, cur)
            _start_over(db, cur, view, prefix, unlogged_tables=True)
        after = min(tracked_position(db, cur, key) for key in keys) if keys else 0
    start = after
    for batch in read_log(log, after, batch_size, until):
        try:
            _in_window(batch)
            if defer_writes and not db.is_postgres:
                _apply_deferred(db, views, keys, prefix, after, batch)
            else:
                with db.transaction() as cur:
                    _apply(db, cur, views, keys, prefix, after, batch, _apply_together)
        except Exception as exc:  # noqa: BLE001 - sorted out just below
            if set_aside.transient(exc):
                raise  # the caller tries the batch again later
            # An event that cannot be folded: the batch again, each view
            # apart, setting aside for a view the events that fail it.
            with db.transaction() as cur:
                _apply(db, cur, views, keys, prefix, after, batch, _apply_apart)
        after = batch[-1][0]
        del batch  # (see read_log) nor kept while the views settle after the last
        if progress:
            progress(after)
    if after != start:  # an idle poll stays read-only
        with db.transaction() as cur:
            unlogged.finish(db, cur, views, prefix)  # (before indexes put off are built)
            for view in views:
                view.settle(db, cur, prefix)
    with db.transaction(commit=False) as cur:
        return min((tracked_position(db, cur, key) for key in keys), default=0)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raises the collector's first threshold while any rebuild in this
    process runs (the API runs some for `as_of` queries, perhaps at once)."""
    global _gc_rebuilds, _gc_saved
    with _gc_lock:
        _gc_rebuilds += 1
        if _gc_rebuilds == 1:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(REBUILD_GC_THRESHOLD, *_gc_saved[1:])
    try:
        yield
    finally:
        with _gc_lock:
            _gc_rebuilds -= 1
            if _gc_rebuilds == 0:
                gc.set_threshold(*_gc_saved)


def rebuild(log: Log, views: View | Sequence[View], prefix: str = "",
            until: int | None = None, progress: Callable[[int], None] | None = None,
            processes: int = 1) -> int:
    """Drops the views' tables and builds them again from the start of the log.
    With `processes` above one, the views are shared among that many
    processes (projections/processes.py), up to the head of the log as it
    stands now when `until` is not given."""
    db, views = log.db, _as_list(views)
    # (None for an in-memory store: it lives in this process only)
    address = log.address() if processes > 1 and len(views) > 1 else None
    head = log.app.recorder.max_notification_id() or 0
    long = (head if until is None else min(head, until)) >= UNLOGGED_FROM
    with db.transaction() as cur:
        hold_tables_lock(db, cur)
        for view in views:
            _start_over(db, cur, view, prefix, unlogged_tables=long)
    with fewer_collections():
        if address is not None:
            from projections import processes as apart  # (it imports this module)
            return apart.feed_shares(log, address, apart.shares(views, processes), prefix,
                                     head if until is None else until, progress)
        position = feed(log, views, prefix, until, batch_size=REBUILD_BATCH, progress=progress)
    analyze(log, views, prefix)
    return position


def _start_over(db: Database, cur: Cursor, view: View, prefix: str,
                unlogged_tables: bool) -> None:
    """A view's tables emptied, to be fed from the start of the log."""
    view.drop_tables(db, cur, prefix)
    view.create_tables(db, cur, prefix)
    view.begin_rebuild(db, cur, prefix)
    if unlogged_tables:
        unlogged.begin(db, cur, view, prefix)
    set_position(db, cur, prefix + view.name, 0)
    set_aside.forget(db, cur, prefix, view.name)


def analyze(log: Log, views: View | Sequence[View], prefix: str = "") -> None:
    """VACUUM (ANALYZE) of the views' tables on PostgreSQL. Tables filled from
    empty have no statistics until autovacuum comes round, and the planner
    meanwhile guesses their sizes: the first reads after a rebuild got plans
    meant for tiny tables. Nor have they a visibility map, without which an
    index-only scan reads the table too. One table at a time, outside any
    transaction, as VACUUM must run."""
    db = log.db
    if not db.is_postgres:
        # SQLite never gathers statistics by itself, so its tables plan alike
        # whether rebuilt or followed; gathering them only here would make a
        # rebuilt view plan differently from a live one.
        return
    for view in _as_list(views):
        for base in view.tables:
            db.outside_transaction(f"VACUUM (ANALYZE) {view.table(db, prefix, base)}")


def drop(log: Log, view: View, prefix: str) -> None:
    """Removes a scratch build (tables and tracking row)."""
    db = log.db
    with db.transaction() as cur:
        view.drop_tables(db, cur, prefix)
        unlogged.forget(db, cur, view, prefix)
        cur.execute(f"DELETE FROM {tracking_table(db)} WHERE view = ?", (prefix + view.name,))
        set_aside.forget(db, cur, prefix, view.name)


def table_rows(log: Log, view: View, prefix: str = "") -> dict[str, list[tuple]]:
    """Every row of every table of a view, sorted, for row-by-row comparison."""
    db = log.db
    out = {}
    with db.transaction(commit=False) as cur:
        for base in view.tables:
            cur.execute(f"SELECT * FROM {view.table(db, prefix, base)}")
            out[base] = sorted(cur.fetchall(), key=repr)
    return out

# Following the log. The follower polls rather than listens: SQLite has no
# notifications, and a short poll keeps a write visible in the views well
# within a second on either engine. `redwhistle follow` runs the follower in a
# process of its own (started by `serve`), so readers ask the database, not
# the follower, how far the views are: `views_position` and `wait_for_views`
# work from any process.


def create_view_tables(log: Log, views: Sequence[View]) -> None:
    """The live views' tables, so readers find them before the follower has run."""
    with log.db.transaction() as cur:
        hold_tables_lock(log.db, cur)  # serve and follow start together
        for view in views:
            view.create_tables(log.db, cur, "")


def views_position(log: Log, views: Sequence[View]) -> int:
    """The lowest position the given live views have reached."""
    db = log.db
    with db.transaction(commit=False) as cur:
        return min((tracked_position(db, cur, v.name) for v in views), default=0)


def wait_for_views(log: Log, views: Sequence[View], position: int,
                   timeout: float = 5.0) -> bool:
    """Read-your-writes: True once every view has reached `position`."""
    deadline = time.monotonic() + timeout
    while views_position(log, views) < position:
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

    def __init__(self, log: Log, views: Sequence[View], limit: int,
                 interval: float = 0.01) -> None:
        self.log = log
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
                at = await asyncio.to_thread(views_position, self.log, self.views)
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

    def __init__(self, log: Log, views: list[View], interval: float = 0.05) -> None:
        super().__init__(interval)
        self.log = log
        self.views = views
        self._feeding = threading.Lock()
        create_view_tables(log, views)

    def catch_up(self) -> None:
        with self._feeding:  # the thread and a caller (a test, a CLI) take turns
            feed(self.log, self.views)

    tick = catch_up

    def position(self) -> int:
        return views_position(self.log, self.views)

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        return wait_for_views(self.log, self.views, position, timeout)
