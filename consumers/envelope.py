"""From a stored event to the messages the relay publishes.

The compound code and an issue's summoned departments are not on every event
(IssueReopened names no department, IssueResolved only the resolver), so the
router keeps what earlier events said in a `Memory`: who each aggregate is,
which departments each issue summoned. The relay persists those facts in the
same transaction as its position, so after a restart the memory is exactly
what it was at that position.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID, uuid5

SCHEMA_VERSION = 1

# Later events of an issue that each summoned department hears about, with the
# `kind` they carry; progress and report-ins are the departments' own doing.
FOLLOW_UPS = {"IssueEscalated": "escalated", "IssueReopened": "reopened",
              "IssueResolved": "resolved"}
_META = ("originator_id", "originator_version", "timestamp")
# Push-back (issue 14), with the `kind` the department concerned hears.
PUSH_BACK = {"DepartmentSummoned": "summons", "DeclineAccepted": "decline_accepted",
             "DeclineRejected": "decline_rejected", "ExtensionApproved": "extension_approved",
             "ExtensionRefused": "extension_refused", "IssueClosedAsDuplicate": "duplicate"}



@dataclass(frozen=True)
class Message:
    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]]


class Memory(Protocol):
    """What the router remembers from earlier events (see relay_store)."""

    def aggregate(self, originator_id: UUID) -> tuple[str, str]: ...  # (kind, code)
    def remember_aggregate(self, originator_id: UUID, kind: str, code: str) -> None: ...
    def departments(self, originator_id: UUID, issue_id: str, version: int) -> list[str]: ...
    def remember_issue(self, originator_id: UUID, issue_id: str, departments: list[str]) -> None: ...


def event_id(originator_id: UUID, version: int) -> str:
    """Stable across republishing, so a consumer can drop what it has seen."""
    return str(uuid5(originator_id, str(version)))


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot put {type(value).__name__} in an envelope")


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, default=_json_default, ensure_ascii=False,
                      separators=(",", ":")).encode()


def route(position: int, event: Any, memory: Memory, events_topic: str,
          summons_topic: Any) -> list[Message]:
    """The messages for one event, in the order they must be sent: the
    department topics first, then the full log topic."""
    cls = type(event)
    aggregate_kind = cls.__qualname__.split(".")[0]
    name = cls.__name__
    oid = event.originator_id
    if name == "Registered":
        memory.remember_aggregate(oid, aggregate_kind, event.code)
    kind, code = memory.aggregate(oid)
    payload = {k: v for k, v in vars(event).items() if k not in _META}
    issue_id = payload.get("issue_id")
    body = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id(oid, event.originator_version),
        "position": position,
        "type": name,
        "aggregate": aggregate_kind,
        "kind": None,
        "compound_code": code if kind == "Compound" else None,
        "company_code": code if kind == "PropertyCompany" else None,
        "issue_id": issue_id,
        "department": None,
        "recorded_at": payload.get("at"),
        "stored_at": event.timestamp,
        "originator_id": oid,
        "originator_version": event.originator_version,
        "payload": payload,
    }
    headers = [("schema-version", str(SCHEMA_VERSION).encode()), ("event-type", name.encode()),
               ("event-id", body["event_id"].encode())]

    addressed: list[tuple[str, str]] = []  # (department, kind)
    if kind == "Compound" and name == "WhistleBlown":
        memory.remember_issue(oid, issue_id, list(event.departments))
        addressed = [(d, "summons") for d in event.departments]
    elif kind == "Compound" and name in FOLLOW_UPS:
        # An escalation concerns the departments it names (the late ones);
        # a reopening or a resolution concerns everyone the issue summoned.
        departments = (list(event.departments) if name == "IssueEscalated"
                       else memory.departments(oid, issue_id, event.originator_version))
        addressed = [(d, FOLLOW_UPS[name]) for d in departments]

    elif kind == "Compound" and name in PUSH_BACK:
        addressed = _push_back(event, name, memory, oid, issue_id)

    messages = [Message(summons_topic(d), issue_id,
                        _encode(dict(body, kind=k, department=d)), headers)
                for d, k in addressed]
    messages.append(Message(events_topic, code, _encode(body), headers))
    return messages


def _push_back(event: Any, name: str, memory: Memory, oid: UUID,
               issue_id: str) -> list[tuple[str, str]]:
    """A new summons goes to the new department's topic (and the replaced one
    hears it was withdrawn); a decision goes to the department it concerns; a
    duplicate to every department still summoned. The memory of who is
    summoned follows, so an ended summons hears nothing more."""
    summoned = memory.departments(oid, issue_id, event.originator_version)
    if name == "DepartmentSummoned":
        memory.remember_issue(oid, issue_id, [d for d in summoned if d != event.replaces
                                              and d != event.department] + [event.department])
        return [(event.department, "summons")] + (
            [(event.replaces, "withdrawn")] if event.replaces else [])
    if name == "IssueClosedAsDuplicate":
        return [(d, PUSH_BACK[name]) for d in summoned]
    if name == "DeclineAccepted":
        memory.remember_issue(oid, issue_id, [d for d in summoned if d != event.department])
    return [(event.department, PUSH_BACK[name])]
