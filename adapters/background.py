"""The parts of `serve` that work beside the API (the views' follower, the
deadline watcher, the sealer, the relay): each runs in a thread of its own
until stopped, by default `tick()` every `interval` seconds. A failing tick is
logged and tried again after a pause; it never stops the service."""
from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("redwhistle.background")


class Background:
    name = "background"
    join_timeout = 10.0  # seconds stop() waits for the thread to end

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Releases what the part holds, after its thread has ended."""

    def start(self) -> "Background":
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.join_timeout)
        self.close()

    def _run(self) -> None:
        self.run(self._stop)

    def run(self, stop: threading.Event) -> None:
        """Works until `stop` is set: by default, ticks."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - e.g. the database restarting; try again
                log.exception("%s failed; retrying", self.name)
                stop.wait(1.0)
            stop.wait(self.interval)
