"""Where a department consumer hands each summons. A sink returns when the
summons is safely taken and raises otherwise; the consumer retries it."""
from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class JsonlSink:
    """Appends one JSON line per summons and fsyncs, so a line that was
    written survives a crash of the machine, not just of the process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def __call__(self, envelope: dict[str, Any]) -> None:
        line = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


class SinkError(RuntimeError):
    pass


class ForwardSink:
    """POSTs the envelope as JSON to the department's own system; any 2xx is
    success. The event id goes in Idempotency-Key, so a receiver that keeps
    the keys it has seen turns at-least-once into exactly-once."""

    def __init__(self, url: str, timeout: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.headers = headers or {}

    def __call__(self, envelope: dict[str, Any]) -> None:
        body = json.dumps(envelope, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "Idempotency-Key": envelope["event_id"],
            "X-Redwhistle-Schema-Version": str(envelope.get("schema_version", "")),
            **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise SinkError(f"{self.url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SinkError(f"{self.url} unreachable: {getattr(exc, 'reason', exc)}") from None
