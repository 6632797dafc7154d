"""One check that every view's tests share: the view as followed live, rebuilt
in one go, and fed a few events a batch holds the same rows."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters.eventstore import Log
from projections.feed import View, drop, feed, rebuild, table_rows


@contextmanager
def rebuilt_and_fed(log: Log, view: View, batch_size: int = 3) -> Iterator[tuple[str, str]]:
    """Asserts that the view rebuilt (prefix `chk_`) and fed `batch_size`
    events a batch (`inc_`) hold the live view's rows; yields the two
    prefixes, so the test can also ask its queries of them, then drops them."""
    live = table_rows(log, view)
    rebuild(log, view, prefix="chk_")
    assert table_rows(log, view, "chk_") == live
    with log.db.transaction() as cur:
        view.create_tables(log.db, cur, "inc_")
    feed(log, view, "inc_", batch_size=batch_size)
    assert table_rows(log, view, "inc_") == live
    try:
        yield "chk_", "inc_"
    finally:
        for prefix in ("chk_", "inc_"):
            drop(log, view, prefix)
