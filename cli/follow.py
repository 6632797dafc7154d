"""`redwhistle follow`: the parts that work beside the API — the views
following the log, the deadline watcher, the sealer of the hash chain.

`serve` starts it as a child process (`FollowProcess`) and starts it again if
it dies; a deployment may instead run `serve --no-follow` and this command as
a service of its own. It has a process to itself because folding the log into
the views would otherwise take a third of the API's one Python core, and
every part of it is safe to restart: the views and the sealer resume from
their tracked positions, the watcher's escalations are recorded once each.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading

from service_layer.bootstrap import Services, bootstrap

log = logging.getLogger("redwhistle.follow")


def add_parser(sub: argparse._SubParsersAction) -> None:
    follow = sub.add_parser("follow", help="keep the views, escalations and seals up to date")
    # Given by `serve`: the child ends when its parent is gone, even SIGKILLed.
    follow.add_argument("--exit-with", type=int, metavar="PID", help=argparse.SUPPRESS)
    follow.set_defaults(run=run)


def background_workers(services: Services) -> list:
    from audit.sealer import Sealer
    from service_layer.deadline_watcher import DeadlineWatcher
    from projections.registry import all_views
    from projections.feed import ViewsFollower
    return [ViewsFollower(services.log, all_views()),
            DeadlineWatcher(services.log, services.governance),
            Sealer(services.chain, services.settings, services.governance.clock,
                   every_events=1000, every_seconds=60)]


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    services = bootstrap()
    workers = background_workers(services)
    try:
        for worker in workers:
            worker.start()
        while not stopping.wait(1.0):
            if args.exit_with and os.getppid() != args.exit_with:
                log.error("serve (pid %s) is gone; stopping", args.exit_with)
                break
        return 0
    finally:
        for worker in reversed(workers):
            worker.stop()
        services.close()


class FollowProcess:
    """`redwhistle follow` as a child of `serve`, for the app's lifetime (it
    has the start()/stop() of a background part). A child that dies is
    started again after `restart_after` seconds and the death is logged."""

    def __init__(self, restart_after: float = 1.0) -> None:
        self.restart_after = restart_after
        self._child: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name="follow-process",
                                        daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            # A session of its own: Ctrl-C reaches serve, which stops the child
            # in order, instead of both at once and a restart in between.
            self._child = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "follow", "--exit-with", str(os.getpid())],
                start_new_session=True)
            code = self._child.wait()
            if not self._stop.is_set():
                log.error("redwhistle follow exited with %s; starting it again", code)
                self._stop.wait(self.restart_after)

    def stop(self) -> None:
        self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        if self._thread:
            self._thread.join(timeout=20)
