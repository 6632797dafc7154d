"""A rebuild on PostgreSQL writes its tables unlogged, and logs them once done.

Every row a rebuild writes, and every new version of it (an issue's row is
rewritten in most batches it has events in), went through the write-ahead
log, much of it as whole pages after each checkpoint: 27 GB for the
megacity's rebuild before the issues view (bench/README.md, "Unlogged
rebuilds and kept rows"). Unlogged, a table's rows skip the log; `SET
LOGGED` at the end writes the finished table to it once. Only a long log
pays for rewriting every table twice (`projections/feed.py` `UNLOGGED_FROM`).

What an unlogged table costs: PostgreSQL empties it when it recovers from a
crash. So a rebuild marks each of its views with a one-row unlogged table
(`<view>_unlogged`), whose name survives a crash and whose row does not.
A feed that finds the table but not its row knows the view's rows are gone
while its position says they are there, and starts that view again from the
start of the log (`lost`). The view is made logged when its feed settles
(`finish`), before its settling builds the indexes put off by the rebuild:
`SET LOGGED` rewrites the table and rebuilds every index it has by then.

Tables whose rows a rebuild rewrites batch after batch (`View.rewritten`:
an issue's row as its report-ins and resolution come) are rebuilt with room
left in each page, so that a row's new version goes beside the old one and
no index is touched (a HOT update). The rewrite by `SET LOGGED` packs them
again.

SQLite has no unlogged tables: every function here does nothing there.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from adapters.db import Cursor, Database

if TYPE_CHECKING:  # (feed.py imports this module)
    from projections.feed import View

MARK = "unlogged"  # the base name of a view's mark
# Of each page of a `rewritten` table, the share filled by new rows while it
# is rebuilt: about three versions of a row fit in the rest.
REWRITTEN_FILLFACTOR = 70


def _mark(db: Database, view: "View", prefix: str) -> str:
    return view.table(db, prefix, MARK)


def begin(db: Database, cur: Cursor, view: "View", prefix: str) -> None:
    """Makes a view's fresh, empty tables unlogged and marks it."""
    if not db.is_postgres:
        return
    for base in view.tables:
        cur.execute(f"ALTER TABLE {view.table(db, prefix, base)} SET UNLOGGED")
    for base in view.rewritten:
        cur.execute(f"ALTER TABLE {view.table(db, prefix, base)} "
                    f"SET (fillfactor = {REWRITTEN_FILLFACTOR})")
    mark = _mark(db, view, prefix)
    cur.execute(f"DROP TABLE IF EXISTS {mark}")
    cur.execute(f"CREATE UNLOGGED TABLE {mark} (id INTEGER PRIMARY KEY)")
    cur.execute(f"INSERT INTO {mark} (id) VALUES (1)")


def _marked(db: Database, cur: Cursor, views: Sequence["View"],
            prefix: str) -> list["View"]:
    """The views whose mark exists (one statement for all of them)."""
    if not db.is_postgres or not views:
        return []
    found = ", ".join("to_regclass(?) IS NOT NULL" for _ in views)
    cur.execute(f"SELECT {found}", [_mark(db, v, prefix) for v in views])
    row = cur.fetchone() or ()
    return [v for v, marked in zip(views, row) if marked]


def lost(db: Database, cur: Cursor, views: Sequence["View"], prefix: str) -> list["View"]:
    """The views whose unlogged rows a crash of PostgreSQL emptied."""
    out = []
    for view in _marked(db, cur, views, prefix):
        cur.execute(f"SELECT id FROM {_mark(db, view, prefix)}")
        if cur.fetchone() is None:
            out.append(view)
    return out


def finish(db: Database, cur: Cursor, views: Sequence["View"], prefix: str) -> None:
    """Logs the tables of the marked views and drops their marks."""
    for view in _marked(db, cur, views, prefix):
        for base in view.tables:
            table = view.table(db, prefix, base)
            if base in view.rewritten:
                cur.execute(f"ALTER TABLE {table} RESET (fillfactor)")
            cur.execute(f"ALTER TABLE {table} SET LOGGED")
        forget(db, cur, view, prefix)


def forget(db: Database, cur: Cursor, view: "View", prefix: str) -> None:
    if db.is_postgres:
        cur.execute(f"DROP TABLE IF EXISTS {_mark(db, view, prefix)}")
