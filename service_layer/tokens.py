"""Bearer tokens. A token is shown once when created; only its SHA-256 is
stored, so a leaked database does not leak working credentials."""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field

from service_layer.db import Database

ROLES = ("admin", "official", "grid_worker", "department", "auditor", "viewer", "hotline")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    department: str | None = None
    street: str | None = None
    grids: tuple[str, ...] = field(default_factory=tuple)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    # Every request authenticates; remembering a token's principal briefly
    # spares the database a lookup per request. Tokens are never altered, so
    # the only cost is that an unknown token is looked up again each time.
    TTL_SECONDS = 30.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        self.table = db.table("rw_tokens")
        db.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (digest TEXT PRIMARY KEY, "
                   "name TEXT NOT NULL, role TEXT NOT NULL, department TEXT, street TEXT, "
                   "grids TEXT)")

    def create(self, *, role: str, name: str, department: str | None = None,
               street: str | None = None, grids: tuple[str, ...] = ()) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if role == "department" and not department:
            raise ValueError("a department token needs --department")
        token = "rw_" + secrets.token_urlsafe(32)
        self.db.execute(f"INSERT INTO {self.table} VALUES (?, ?, ?, ?, ?, ?)",
                        (_digest(token), name, role, department, street, ",".join(grids)))
        return token

    def principal(self, token: str) -> Principal | None:
        digest, now = _digest(token), time.monotonic()
        with self._lock:
            known = self._known.get(digest)
        if known and known[1] > now:
            return known[0]
        rows = self.db.fetchall(f"SELECT name, role, department, street, grids FROM {self.table} "
                                "WHERE digest = ?", (digest,))
        if not rows:
            return None
        name, role, department, street, grids = rows[0]
        found = Principal(name, role, department, street,
                          tuple(g for g in (grids or "").split(",") if g))
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[digest] = (found, now + self.TTL_SECONDS)
        return found
