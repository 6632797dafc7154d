"""The digest of the log: one event's canonical bytes and the chain of digests.

Every event in the log gets a digest that covers the digest before it and the
event's canonical bytes, so changing, removing, adding or moving any event
changes every digest from that position on. docs/audit.md defines the hashing
precisely; `tools/verify_export.py` re-implements it with the standard library
alone and must agree with `canonical_bytes` and `chain_digest` here. No I/O.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

GENESIS = "0" * 64
FIELDS = ("position", "originator_id", "originator_version", "topic", "state")


def parse_state(state: bytes) -> Any:
    """The stored state is JSON (eventsourcing's JSONTranscoder, no compression
    or cipher). Bytes that are not JSON (a clumsy edit) are kept as their hex
    so that they still hash, deterministically, and never crash a verify."""
    try:
        return json.loads(bytes(state).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"_undecodable_hex_": bytes(state).hex()}


def record(position: int, originator_id: Any, originator_version: int, topic: str,
           state: bytes) -> dict[str, Any]:
    """One event as the chain and the export see it."""
    oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    return {"position": int(position), "originator_id": str(oid),
            "originator_version": int(originator_version), "topic": topic,
            "state": parse_state(state)}


def record_of(notification: Any) -> dict[str, Any]:
    return record(notification.id, notification.originator_id, notification.originator_version,
                  notification.topic, notification.state)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def canonical_bytes(rec: dict[str, Any]) -> bytes:
    """UTF-8 of the JSON object {position, originator_id, originator_version,
    topic, state}, keys sorted at every level, no whitespace, non-ASCII
    characters written as themselves."""
    return canonical_json({k: rec[k] for k in FIELDS}).encode("utf-8")


def chain_digest(previous: str, canonical: bytes) -> str:
    """SHA-256, in lowercase hex, of the previous digest's 64 ASCII hex
    characters followed by the event's canonical bytes."""
    return hashlib.sha256(previous.encode("ascii") + canonical).hexdigest()


def recorded_at(rec: dict[str, Any]) -> str | None:
    """The library's timestamp of the event (when it was triggered, just
    before it was stored), as fixed-width UTC text that sorts as time does."""
    stamp = rec["state"].get("timestamp") if isinstance(rec["state"], dict) else None
    if isinstance(stamp, dict):
        stamp = stamp.get("_data_")
    if not isinstance(stamp, str):
        return None
    if len(stamp) == 32 and stamp.endswith("+00:00") and stamp[19] == ".":
        return stamp[:26] + "Z"  # the library's own UTC isoformat: already fixed-width
    try:
        return time_key(datetime.fromisoformat(stamp))
    except ValueError:
        return None


def time_key(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
