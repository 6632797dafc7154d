"""Bearer tokens. A token is shown once when created; only its SHA-256 is
stored, so a leaked database does not leak working credentials. A token is
named in listings and revocations by the first hex digits of that digest.

Every request authenticates, so each process remembers what it looked up:
known tokens and, in a smaller cache of their own, unknown ones (a client
retrying with a bad token costs one lookup, not one per request). Both
caches hold while the table's generation, a counter every create and revoke
raises, is unchanged; each process reads it at most every CHECK_SECONDS, so a
revocation or a new token takes effect within a second in every process.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from adapters.db import Database

ROLES = ("admin", "official", "grid_worker", "department", "auditor", "viewer", "hotline")
ID_DIGITS = 12  # hex digits of the digest shown as a token's id
MISS = object()  # `remembered`: not in memory, ask `principal`


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    department: str | None = None
    street: str | None = None
    grids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class TokenRow:
    """A token as `token list` shows it: everything but the secret."""
    id: str
    name: str
    role: str
    department: str | None
    street: str | None
    grids: tuple[str, ...]
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _text(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(timezone.utc).isoformat()


def _time(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)




class Tokens:
    CHECK_SECONDS = 0.5  # how stale a process's view of the table may be
    # A row deleted by hand raises no generation: a known token is looked up
    # again after this long all the same.
    KNOWN_SECONDS = 30.0
    KNOWN_SIZE = 10_000
    UNKNOWN_SIZE = 1_000

    def __init__(self, db: Database, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        # Both made by adapters/migrations/ (0001, 0004).
        self.table = db.table("rw_tokens")
        self.generation_table = db.table("rw_token_generation")
        # digest -> (principal, expires_at, looked up again after); digests of unknown tokens
        self._known: OrderedDict[str, tuple[Principal, datetime | None, float]] = OrderedDict()
        self._unknown: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._generation: int | None = None
        self._next_check = 0.0

    # -- administration ------------------------------------------------------
    def create(self, *, role: str, name: str, department: str | None = None,
               street: str | None = None, grids: tuple[str, ...] = (),
               expires_at: datetime | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if role == "department" and not department:
            raise ValueError("a department token needs --department")
        if any(not g.strip() or "," in g for g in grids):
            raise ValueError("--grids names each grid: no empty name between commas")
        if role == "grid_worker" and not street and not grids:
            raise ValueError("a grid worker token needs --street or --grids")
        # A scope the role does not use would only look like a limit.
        if grids and role != "grid_worker":
            raise ValueError("only a grid worker token covers --grids")
        if street and role not in ("official", "grid_worker"):
            raise ValueError("only an official or a grid worker token has a --street")
        if department and role != "department":
            raise ValueError("only a department token has a --department")
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise ValueError("the expiry must lie in the future")
        token = "rw_" + secrets.token_urlsafe(32)
        with self.db.transaction() as cur:
            cur.execute(f"INSERT INTO {self.table} (digest, name, role, department, street, "
                        "grids, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (_digest(token), name, role, department, street, ",".join(grids),
                         _text(now), _text(expires_at)))
            self._raise_generation(cur)
        return token

    _COLUMNS = "digest, name, role, department, street, grids, created_at, expires_at, revoked_at"

    def list(self) -> list[TokenRow]:
        rows = self.db.fetchall(f"SELECT {self._COLUMNS} FROM {self.table} "
                                "ORDER BY created_at, name, digest")
        return [self._row(r) for r in rows]

    def revoke(self, token_id: str) -> TokenRow:
        """Revokes the one token whose id (a prefix of its digest, as `list`
        shows it) is `token_id`; revoking a revoked token changes nothing."""
        token_id = token_id.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{6,64}", token_id):
            raise ValueError("a token id is 6 to 64 hex digits, as `token list` shows it")
        with self.db.transaction() as cur:
            cur.execute(f"SELECT {self._COLUMNS} FROM {self.table} WHERE digest LIKE ?",
                        (token_id + "%",))
            matches = cur.fetchall()
            if not matches:
                raise LookupError(f"no token has the id {token_id}")
            if len(matches) > 1:
                raise ValueError(f"{len(matches)} tokens have ids starting {token_id}; "
                                 "give more digits")
            if matches[0][8] is None:
                revoked_at = _text(self.clock())
                cur.execute(f"UPDATE {self.table} SET revoked_at = ? WHERE digest = ?",
                            (revoked_at, matches[0][0]))
                self._raise_generation(cur)
                matches[0] = (*matches[0][:8], revoked_at)
        return self._row(matches[0])

    @staticmethod
    def _row(row: tuple) -> TokenRow:
        digest, name, role, department, street, grids, created, expires, revoked = row
        return TokenRow(digest[:ID_DIGITS], name, role, department, street,
                        tuple(g for g in (grids or "").split(",") if g),
                        _time(created), _time(expires), _time(revoked))

    def _raise_generation(self, cur) -> None:
        cur.execute(f"UPDATE {self.generation_table} SET generation = generation + 1 "
                    "WHERE id = 1")

    # -- authentication ------------------------------------------------------
    def remembered(self, token: str) -> Principal | None | object:
        """The principal from memory alone, or MISS when `principal` must ask
        the database (this never does: it runs on the event loop)."""
        if time.monotonic() >= self._next_check:
            return MISS
        digest = _digest(token)
        with self._lock:
            known = self._known.get(digest)
            if known is None:
                return None if digest in self._unknown else MISS
            if known[2] <= time.monotonic():
                return MISS
            self._known.move_to_end(digest)
        return self._unexpired(known)

    def principal(self, token: str) -> Principal | None:
        """Who holds `token`, or None for an unknown, revoked or expired one."""
        self._check_generation()
        digest = _digest(token)
        with self._lock:
            known = self._known.get(digest)
            if known is not None and known[2] > time.monotonic():
                self._known.move_to_end(digest)
                return self._unexpired(known)
            if digest in self._unknown:
                self._unknown.move_to_end(digest)
                return None
            generation = self._generation
        found = self._lookup(digest)
        with self._lock:
            if generation != self._generation:
                pass  # the table changed during the lookup: remember nothing
            elif found is None:
                self._known.pop(digest, None)
                self._unknown[digest] = None
                if len(self._unknown) > self.UNKNOWN_SIZE:
                    self._unknown.popitem(last=False)
            else:
                self._known[digest] = (*found, time.monotonic() + self.KNOWN_SECONDS)
                if len(self._known) > self.KNOWN_SIZE:
                    self._known.popitem(last=False)
        return None if found is None else self._unexpired(found)

    def _lookup(self, digest: str) -> tuple[Principal, datetime | None] | None:
        """The one database lookup of a token not in memory."""
        rows = self.db.fetchall(f"SELECT name, role, department, street, grids, expires_at "
                                f"FROM {self.table} WHERE digest = ? AND revoked_at IS NULL",
                                (digest,))
        if not rows:
            return None
        name, role, department, street, grids, expires_at = rows[0]
        return (Principal(name, role, department, street,
                          tuple(g for g in (grids or "").split(",") if g)), _time(expires_at))

    def _unexpired(self, known: tuple) -> Principal | None:
        principal, expires_at = known[:2]
        return principal if expires_at is None or self.clock() < expires_at else None

    def _check_generation(self) -> None:
        if time.monotonic() < self._next_check:
            return
        with self._check_lock:
            if time.monotonic() < self._next_check:
                return  # another thread read it meanwhile
            started = time.monotonic()
            rows = self.db.fetchall(f"SELECT generation FROM {self.generation_table} "
                                    "WHERE id = 1")
            generation = rows[0][0] if rows else 0
            with self._lock:
                if generation != self._generation:
                    self._known.clear()
                    self._unknown.clear()
                    self._generation = generation
            self._next_check = started + self.CHECK_SECONDS
