"""What a read model is, and how one is fed.

A view owns a few tables in the same database as the events. It is fed
batches of (position, domain event) in log order, and the position it has
reached is written in the same transaction as its rows, so a crash never
applies an event twice or skips one. Every table name goes through
`View.table(prefix, base)`: the live view has prefix "", while an audit or a
rebuild can build the same view into scratch tables beside it and query them
with the very same code.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from service_layer.bootstrap import Services
from service_layer.db import Cursor, Database

Batch = Sequence[tuple[int, Any]]  # (position in the log, decoded domain event)

TRACKING = "rw_tracking"


class View(ABC):
    name: str = ""
    tables: tuple[str, ...] = ()  # base names, e.g. ("summonses", "issues")

    def table(self, db: Database, prefix: str, base: str) -> str:
        return db.table(f"{prefix}rw_{self.name}_{base}")

    @abstractmethod
    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        """CREATE TABLE IF NOT EXISTS for every table (and its indexes)."""

    @abstractmethod
    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        """Folds a batch of events into the tables, inside the caller's transaction."""

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
    return db.table(TRACKING)


def ensure_tracking(db: Database) -> None:
    db.execute(f"CREATE TABLE IF NOT EXISTS {tracking_table(db)} "
               "(view TEXT PRIMARY KEY, position BIGINT NOT NULL)")


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


def read_log(services: Services, after: int, limit: int = 1000,
             until: int | None = None) -> Iterator[list[tuple[int, Any]]]:
    """Decoded events after `after`, in batches of at most `limit`, up to and
    including `until` when given. Positions have gaps: never assume +1."""
    recorder, mapper = services.app.recorder, services.app.mapper
    while True:
        notifications = recorder.select_notifications(start=after, limit=limit, stop=until,
                                                      inclusive_of_start=False)
        if not notifications:
            return
        yield [(n.id, mapper.to_domain_event(n)) for n in notifications]
        after = notifications[-1].id
        if len(notifications) < limit:
            return


def _as_list(views: View | Sequence[View]) -> list[View]:
    return [views] if isinstance(views, View) else list(views)


def feed(services: Services, views: View | Sequence[View], prefix: str = "",
         until: int | None = None, batch_size: int = 1000) -> int:
    """Brings views up to date with the log (or up to `until`) and returns the
    lowest position they reached. The log is read and decoded once for all of
    them; each batch commits together with every view's tracking row, and a
    view behind the others gets only the events it has not seen."""
    db, views = services.db, _as_list(views)
    keys = [prefix + v.name for v in views]
    with db.transaction() as cur:
        for key in keys:
            cur.execute(f"INSERT INTO {tracking_table(db)} (view, position) VALUES (?, 0) "
                        "ON CONFLICT (view) DO NOTHING", (key,))
        after = min(tracked_position(db, cur, key) for key in keys) if keys else 0
    start = after
    for batch in read_log(services, after, batch_size, until):
        with db.transaction() as cur:
            for view, key in zip(views, keys):
                # Read under lock: another follower may have moved this view on
                # since; it then gets only what is new to it, never a repeat.
                current = tracked_position(db, cur, key, lock=True)
                unseen = [(p, e) for p, e in batch if p > current]
                if current < after or not unseen:
                    continue  # rebuilt meanwhile (next round), or nothing new
                view.apply(db, cur, prefix, unseen)
                set_position(db, cur, key, batch[-1][0])
        after = batch[-1][0]
    if after != start:  # an idle poll stays read-only
        with db.transaction() as cur:
            for view in views:
                view.settle(db, cur, prefix)
    with db.transaction(commit=False) as cur:
        return min((tracked_position(db, cur, key) for key in keys), default=0)


def rebuild(services: Services, views: View | Sequence[View], prefix: str = "",
            until: int | None = None) -> int:
    """Drops the views' tables and builds them again from the start of the log."""
    db, views = services.db, _as_list(views)
    ensure_tracking(db)
    with db.transaction() as cur:
        for view in views:
            view.drop_tables(db, cur, prefix)
            view.create_tables(db, cur, prefix)
            view.begin_rebuild(db, cur, prefix)
            set_position(db, cur, prefix + view.name, 0)
    return feed(services, views, prefix, until)


def drop(services: Services, view: View, prefix: str) -> None:
    """Removes a scratch build (tables and tracking row)."""
    db = services.db
    with db.transaction() as cur:
        view.drop_tables(db, cur, prefix)
        cur.execute(f"DELETE FROM {tracking_table(db)} WHERE view = ?", (prefix + view.name,))


def table_rows(services: Services, view: View, prefix: str = "") -> dict[str, list[tuple]]:
    """Every row of every table of a view, sorted, for row-by-row comparison."""
    db = services.db
    out = {}
    with db.transaction(commit=False) as cur:
        for base in view.tables:
            cur.execute(f"SELECT * FROM {view.table(db, prefix, base)}")
            out[base] = sorted(cur.fetchall(), key=repr)
    return out
