"""Idempotent facts.

Grid workers on flaky phones retry. Every fact that a client names with its
own id (an issue id, a meeting id, a year and level...) keeps a fingerprint of
the body that created it: the same body again is a harmless repeat, another
body under the same id is a conflict.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from domain.exceptions import ConflictingRepeat


def fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_repeat(fingerprints: dict[str, str], key: str, fields: dict[str, Any]) -> bool:
    """True when `key` was recorded with these very fields; False when `key`
    is new; ConflictingRepeat when it was recorded with other fields."""
    known = fingerprints.get(key)
    if known is None:
        return False
    if known == fingerprint(fields):
        return True
    raise ConflictingRepeat(f"{key} was already recorded with a different body")
