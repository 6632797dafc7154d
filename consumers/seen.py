"""The consumer's memory of the event ids it has handed to its sink.

A small SQLite file: members of one group on one host may share it (WAL mode,
busy timeout), so a summons redelivered to another member after a rebalance
is still recognised."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path


class SeenStore:
    def __init__(self, path: str | Path, keep_days: float = 30.0) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY, "
                         "position INTEGER, seen_at REAL NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS rejected (topic TEXT, partition INTEGER, "
                         "offset INTEGER, reason TEXT, value BLOB, at REAL, "
                         "PRIMARY KEY (topic, partition, offset))")
        # Redeliveries come within hours (a rebalance, a restart), not months.
        self._db.execute("DELETE FROM seen WHERE seen_at < ?", (time.time() - keep_days * 86400,))

    def __contains__(self, event_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM seen WHERE event_id = ?",
                                    (event_id,)).fetchone() is not None

    def add(self, event_id: str, position: int | None = None) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                             (event_id, position, time.time()))

    def reject(self, topic: str, partition: int, offset: int, reason: str, value: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?, ?)",
                             (topic, partition, offset, reason, value, time.time()))

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM seen").fetchone()[0]

    def close(self) -> None:
        self._db.close()
