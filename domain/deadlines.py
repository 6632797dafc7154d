"""Report-in and resolution deadlines.

Defaults follow docs/domain.md, after Beijing's 12345 "respond upon complaint"
practice: urgent whistles are reported in within 2 hours and resolved within
24 hours, normal ones reported in within 24 hours and resolved within 7 days.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

URGENCIES = ("normal", "urgent")


@dataclass(frozen=True)
class DeadlinePolicy:
    report_urgent: timedelta = timedelta(hours=2)
    report_normal: timedelta = timedelta(hours=24)
    resolve_urgent: timedelta = timedelta(hours=24)
    resolve_normal: timedelta = timedelta(days=7)

    def report_due(self, urgency: str, blown_at: datetime) -> datetime:
        return blown_at + (self.report_urgent if urgency == "urgent" else self.report_normal)

    def resolve_due(self, urgency: str, since: datetime) -> datetime:
        return since + (self.resolve_urgent if urgency == "urgent" else self.resolve_normal)

    @classmethod
    def from_hours(cls, report_urgent: float, report_normal: float,
                   resolve_urgent: float, resolve_normal: float) -> "DeadlinePolicy":
        return cls(timedelta(hours=report_urgent), timedelta(hours=report_normal),
                   timedelta(hours=resolve_urgent), timedelta(hours=resolve_normal))
