"""A rebuild shared among processes.

Folding the log into views is Python, one core a process. Shared among a few
processes, each reading and decoding the log for its own views, a rebuild of
every view lasts about as long as its largest share plus a read of the log,
where in one process it lasts as long as all views together
(bench/README.md, "A rebuild in processes"). Views keep no state between
batches and each has its own tables and tracking row, so a share is fed by
`feed` as any view is; the processes meet only in the database.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait

from adapters.eventstore import Log
from projections.feed import (REBUILD_BATCH, View, analyze, feed, fewer_collections,
                              tracked_position)


def shares(views: Sequence[View], processes: int) -> list[list[View]]:
    """The views in at most `processes` groups of about equal `View.cost`:
    the costliest first, each to the group that costs least so far."""
    groups: list[list[View]] = [[] for _ in range(max(1, min(processes, len(views))))]
    costs = [0.0] * len(groups)
    for view in sorted(views, key=lambda v: -v.cost):
        least = costs.index(min(costs))
        groups[least].append(view)
        costs[least] += view.cost
    return [g for g in groups if g]


def feed_shares(log: Log, groups: list[list[View]], prefix: str, until: int,
                progress: Callable[[int], None] | None) -> int:
    """Feeds the first group here and each other in a process of its own, up
    to `until`, each process then analyzing its own tables (on PostgreSQL a
    VACUUM of each, overlapped so with the others' folding); returns the
    lowest position reached. `progress` hears the lowest position of all
    views, as read from their tracking rows."""
    address = log.address()
    if address is None:
        raise ValueError("an in-memory store cannot be shared among processes")
    others = [v for group in groups[1:] for v in group]

    def told(own: int) -> None:
        if progress:
            with log.db.transaction(commit=False) as cur:
                theirs = [tracked_position(log.db, cur, prefix + v.name) for v in others]
            progress(min([own, *theirs]))

    # Spawned, not forked: the caller may hold threads and pooled connections.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(groups) - 1, mp_context=context) as pool:
        futures: list[Future[int]] = [pool.submit(_feed_share, address, group, prefix, until)
                                      for group in groups[1:]]
        own = feed(log, groups[0], prefix, until, batch_size=REBUILD_BATCH, progress=told)
        analyze(log, groups[0], prefix)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            if any(f.exception() for f in done):
                break  # raised just below
            told(own)
        return min([own, *(f.result() for f in futures)])


def _feed_share(address: dict[str, str], views: list[View], prefix: str, until: int) -> int:
    log = Log.open(address)
    try:
        with fewer_collections():
            position = feed(log, views, prefix, until, batch_size=REBUILD_BATCH)
        analyze(log, views, prefix)
        return position
    finally:
        log.close()
