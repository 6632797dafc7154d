"""The rows of the issues a rebuild of the issues view touched last, kept in
memory between batches so that the next batches need not read them back.

An issue's events come over days (its report-ins, its resolution, a rating),
so most batches of a rebuild change rows that an earlier batch wrote. Read
back by issue id, those rows were most of the view's time at ten million
events: index and table pages all over tables far larger than PostgreSQL's
buffers (bench/README.md, "Unlogged rebuilds and kept rows"). Kept rows are
trusted only as of the position they were kept at: when the view's tracked
position is another (a batch rolled back, another feeder), they are
forgotten and read again, as they are after any failure while folding.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Key = tuple[str, str]  # (compound code, issue id)
Rows = tuple[dict[str, Any], dict[str, dict[str, Any]]]  # (issue, its summonses by department)


class Kept:
    def __init__(self, size: int) -> None:
        self.size = size
        self.rows: dict[Key, Rows] = {}  # least recently touched first
        self.at: int | None = None  # the tracked position the rows are as of

    def as_of(self, position: int) -> None:
        """Forgets the rows unless they are as of `position`."""
        if self.at != position:
            self.forget()

    def take(self, keys: Iterable[Key]) -> dict[Key, Rows]:
        return {k: self.rows[k] for k in keys if k in self.rows}

    def keep(self, rows: dict[Key, Rows], position: int) -> None:
        """The rows as written by the batch that ends at `position`."""
        for key, value in rows.items():
            self.rows.pop(key, None)
            self.rows[key] = value
        for _ in range(len(self.rows) - self.size):
            del self.rows[next(iter(self.rows))]
        self.at = position

    def forget(self) -> None:
        self.rows.clear()
        self.at = None
