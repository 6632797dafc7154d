"""Which version of a view's tables a database holds, and what an upgrade does.

A view is rebuilt from the log, so when its tables change shape, or it folds
events it used to skip, the rows an earlier release wrote are not migrated:
they are dropped and the view is fed again from the start of the log. A view
that keeps a version calls `keep_version` first in `create_tables` and lists
`"version"` among its tables (so a rebuild drops it and `table_rows` compares
it). Tables of another version, or of none (built before the view numbered
its tables), are dropped with any `legacy` tables an earlier version had,
and the view's tracked position goes back to 0: the follower of an upgraded
install then refolds the view (reading the log once for it while the other
views skip what they have seen) instead of failing on a missing column or
answering with figures the new rules would not give.
"""
from __future__ import annotations

from collections.abc import Sequence

from projections import set_aside
from projections.feed import View, set_position, tracked_position
from adapters.db import Cursor, Database


def keep_version(db: Database, cur: Cursor, prefix: str, view: View, version: int,
                 legacy: Sequence[str] = ()) -> None:
    """Inside create_tables' transaction, before the view creates its tables."""
    table = view.table(db, prefix, "version")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER NOT NULL)")
    cur.execute(f"SELECT version FROM {table}")
    if [tuple(r) for r in cur.fetchall()] == [(version,)]:
        return
    for base in (*view.tables, *legacy):
        if base != "version":
            cur.execute(f"DROP TABLE IF EXISTS {view.table(db, prefix, base)}")
    cur.execute(f"DELETE FROM {table}")
    cur.execute(f"INSERT INTO {table} (version) VALUES (?)", (version,))
    key = prefix + view.name
    if tracked_position(db, cur, key) > 0:
        set_position(db, cur, key, 0)
        set_aside.forget(db, cur, prefix, view.name)
