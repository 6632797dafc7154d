"""Rows a rebuild keeps in memory from one batch to the next.

A view that folds state (an issue's row, a request's) reads back, batch by
batch, the rows its events change. During a rebuild those are mostly rows
it wrote one or two batches before: kept here, the next batch finds them
without a SELECT. Every batch still writes every row it changes, in the
transaction that moves the view's position, so what is stored never
depends on what is held.

Held rows are trusted only while the view's tracked position is the one
they were kept at: a batch rolled back (another view failed on it, the
database failed) or applied by another process leaves the position
elsewhere, and the rows are then let go and read again. At most `limit`
rows are held, the least recently kept let go first; a row let go is read
back if its issue ever changes again.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from projections.feed import tracked_position
from adapters.db import Cursor, Database


class Held:
    def __init__(self, db: Database, limit: int) -> None:
        self.db, self.limit, self.position = db, limit, 0
        self.rows: OrderedDict[Hashable, Any] = OrderedDict()

    def check(self, db: Database, cur: Cursor, key: str) -> "Held | None":
        """Itself when feeding the database it was made for, emptied unless
        the view `key` (prefix and name) is still where it kept its rows."""
        if db is not self.db:
            return None
        if tracked_position(db, cur, key) != self.position:
            self.rows.clear()
        return self

    def taken(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """The held rows among `keys`."""
        rows = self.rows
        return {k: rows[k] for k in keys if k in rows}

    def keep(self, rows: dict[Hashable, Any], position: int) -> None:
        """`rows`, as written by the batch that ends at `position`."""
        held = self.rows
        for k, row in rows.items():
            held[k] = row
            held.move_to_end(k)
        while len(held) > self.limit:
            held.popitem(last=False)
        self.position = position

    def moved(self, position: int) -> None:
        """A batch that changed none of the view's rows."""
        self.position = position

    def forget(self) -> None:
        """After a batch failed half folded: nothing held is trusted."""
        self.rows.clear()
        self.position = -1
