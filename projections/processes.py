"""A rebuild shared among processes.

Folding the log into views is Python, one core a process. Shared among a few
processes, each reading and decoding the log for its own views, a rebuild of
every view lasts about as long as its largest share plus a read of the log,
where in one process it lasts as long as all views together
(bench/README.md, "A rebuild in processes"). Views keep no state between
batches and each has its own tables and tracking row, so a share is fed by
`feed` as any view is; the processes meet only in the database.

The other processes are Python told their path and share on stdin, answering
on stdout (pickled), rather than multiprocessing's: those import the
caller's `__main__` again, which a script without a main guard turns into a
second rebuild.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

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


def feed_shares(log: Log, address: dict[str, str], groups: list[list[View]], prefix: str,
                until: int, progress: Callable[[int], None] | None) -> int:
    """Feeds the last group (the lightest) here and each other in a process
    of its own, opening the store at `address` (`Log.address`), up to
    `until`; returns the lowest position reached. `progress` hears the
    lowest position of all views, as read from their tracking rows."""
    # The lightest share here, the heavier ones in processes that start a
    # little later: on SQLite the dashboard's long settling (one writing
    # transaction) then overlaps the issues view's folding; on PostgreSQL it
    # makes no difference beyond the noise (bench/README.md).
    *apart, here = groups
    others = [v for group in apart for v in group]

    def told(own: int) -> None:
        if progress:
            with log.db.transaction(commit=False) as cur:
                theirs = [tracked_position(log.db, cur, prefix + v.name) for v in others]
            progress(min([own, *theirs]))

    children = [_start(address, group, prefix, until) for group in apart]
    try:
        own = _fold_share(log, here, prefix, until, told)
        answers = []
        for child in children:
            while True:
                try:
                    answers.append(_answer(child, child.communicate(timeout=0.5)[0]))
                    break
                except subprocess.TimeoutExpired:
                    told(own)
        told(own)  # every share done: where they all are
        return min([own, *answers])
    finally:
        for child in children:  # a share that failed leaves the others nothing to do
            if child.poll() is None:
                child.kill()
                child.wait()


def _fold_share(log: Log, views: list[View], prefix: str, until: int,
                progress: Callable[[int], None] | None = None) -> int:
    """One process's share: fed (on SQLite folding before it locks: the
    processes write one at a time), then its own tables analyzed (on
    PostgreSQL a VACUUM of each, overlapped so with the others' folding)."""
    position = feed(log, views, prefix, until, batch_size=REBUILD_BATCH, progress=progress,
                    defer_writes=True)
    analyze(log, views, prefix)
    return position


_CHILD = ("import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
          "from projections.processes import main; main()")


def _start(address: dict[str, str], views: list[View], prefix: str,
           until: int) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    assert child.stdin is not None
    # The same modules as here, found by the caller's path (a test's, a bench's tree).
    child.stdin.write(pickle.dumps([p or os.getcwd() for p in sys.path]))
    child.stdin.write(pickle.dumps((address, views, prefix, until)))
    child.stdin.close()
    child.stdin = None  # (communicate would flush it)
    return child


def _answer(child: subprocess.Popen, out: bytes) -> int:
    try:
        done, value = pickle.loads(out)
    except Exception:  # noqa: BLE001 - nothing (or half) written: it died
        raise RuntimeError(f"a rebuild process exited with {child.returncode} "
                           "and no answer") from None
    if done:
        return value
    raise value


def _feed_share(address: dict[str, str], views: list[View], prefix: str, until: int) -> int:
    log = Log.open(address)
    try:
        with fewer_collections():
            return _fold_share(log, views, prefix, until)
    finally:
        log.close()


def main() -> None:
    answer: tuple[bool, Any]
    out, sys.stdout = sys.stdout.buffer, sys.stderr  # stdout carries the answer only
    try:
        answer = (True, _feed_share(*pickle.load(sys.stdin.buffer)))
    except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
        try:
            pickle.dumps(exc)
            answer = (False, exc)
        except Exception:  # noqa: BLE001 - one that cannot travel travels as text
            answer = (False, RuntimeError(traceback.format_exc()))
    out.write(pickle.dumps(answer))
    out.flush()
