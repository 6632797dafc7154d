"""The parts of `serve` that work beside the API (the views' follower, the
deadline watcher, the sealer): each runs `tick()` every `interval` seconds in
a thread of its own until stopped. A failing tick is logged and tried again
after a pause; it never stops the service."""
from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("redwhistle.background")


class Background:
    name = "background"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Releases what the part holds, after its thread has ended."""

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - e.g. the database restarting; try again
                log.exception("%s failed; retrying", self.name)
                self._stop.wait(1.0)
            self._stop.wait(self.interval)
