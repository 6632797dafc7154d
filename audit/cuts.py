"""Where an auditor cuts the log: a position, or a time that stands for the
last position recorded at or before it; and the errors of an auditor's input."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from adapters.limits import MAX_POSITION, check_moment
from audit.chain import Chain
from projections.moments import parse_moment


class BadInput(ValueError):
    """Input an auditor got wrong: the CLI exits 2, the API answers 422
    naming `field` when it is known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownQuery(BadInput, LookupError):
    """A figure no view offers: the API answers 404."""


@dataclass(frozen=True)
class Cut:
    """A moment of the log: every event at a position <= `position`."""
    position: int
    moment: datetime | None  # the time asked for, or None when a position was given

    def now(self, chain: Chain) -> datetime:
        """The clock reading a view query uses at this moment: the time asked
        for, or the recording time of the event at the position."""
        if self.moment is not None:
            return self.moment
        stamp = chain.recorded_time(self.position)
        if stamp:
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc)

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position,
                "as_of": self.moment.isoformat() if self.moment else None}


def parse_cut(text: str, name: str = "as_of") -> int | datetime:
    """A log position (digits) or an ISO 8601 time within the window of
    adapters/limits.py; a time without a zone is UTC."""
    text = (text or "").strip()
    if text.isdigit():
        if int(text) > MAX_POSITION:
            raise BadInput(f"{name} is beyond any log position", name)
        return int(text)
    try:
        moment = parse_moment(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{name} must be a log position or an ISO 8601 time, not {text!r}",
                       name) from None
    try:
        check_moment(moment)
    except ValueError as exc:
        raise BadInput(f"{name} {exc}", name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cut_at(chain: Chain, as_of: int | datetime | str | None) -> Cut:
    """A time cuts at the last position whose event was recorded at or
    before it (the event's own timestamp: its command's time of record,
    adapters/clock.py)."""
    if isinstance(as_of, str):
        as_of = parse_cut(as_of)
    if as_of is None:
        return Cut(chain.log.app.recorder.max_notification_id() or 0, None)
    if isinstance(as_of, int):
        return Cut(as_of, None)
    return Cut(chain.position_at(as_of), as_of)
