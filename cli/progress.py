"""Progress of a long command on stderr: a tqdm bar on a terminal, otherwise
(a log, a pipe, CI) a line every `every` seconds and one at the end.

The loops live in the service layer and take a callback instead of printing:
`Progress` is that callback, called as `progress(stage, done)` where `done`
is a count or the log position reached (positions have gaps, so a bar over
positions ends at the log's head, not at a count of events). A new stage
(`replay dashboard` after `replay agenda`) starts a new bar or line.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Any


class Progress:
    def __init__(self, total: int | None = None, unit: str = "events", every: float = 10.0,
                 stream: IO[str] | None = None, bar: bool | None = None) -> None:
        self.total = total or None
        self.unit = unit
        self.every = every
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self._stage: str | None = None
        self._tqdm: Any = None
        self._done = 0
        self._started = self._said = 0.0

    def __call__(self, stage: str, done: int) -> None:
        if stage != self._stage:
            self._finish()
            self._stage, self._done = stage, 0
            self._started = self._said = time.monotonic()
            if self.bar:
                from tqdm import tqdm
                self._tqdm = tqdm(total=self.total, desc=stage, unit=self.unit,
                                  unit_scale=True, file=self.stream, leave=True)
        if self._tqdm is not None:
            self._tqdm.update(done - self._done)
        self._done = done
        if not self.bar and time.monotonic() - self._said >= self.every:
            self._line()

    def _line(self, end: bool = False) -> None:
        elapsed = time.monotonic() - self._started
        share = f" of {self.total:,} ({100 * self._done / self.total:.0f}%)" if self.total else ""
        rate = f", {self._done / elapsed:,.0f}/s" if elapsed > 0 else ""
        print(f"{self._stage}: {'done, ' if end else ''}{self._done:,}{share} {self.unit}"
              f" in {elapsed:.0f} s{rate}", file=self.stream, flush=True)
        self._said = time.monotonic()

    def _finish(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        elif self._stage is not None and not self.bar:
            self._line(end=True)

    def close(self) -> None:
        self._finish()
        self._stage = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
