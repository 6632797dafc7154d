"""The district's clock for the views: its local time zone, and the one text
form of a moment that the agenda and rankings tables keep.

Moments are stored as fixed-width UTC text (`2026-05-01T09:00:00.000000+00:00`)
so that comparing two of them as strings in SQL compares them in time, on
SQLite and PostgreSQL alike. Dates (`2026-05-01`) are local dates of the
district, China Standard Time (UTC+8, no daylight saving).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

# Changing it means rebuilding the views: rollups are keyed by local day.
LOCAL_TZ = timezone(timedelta(hours=8), "CST")


def moment(dt: datetime) -> str:
    """A timezone-aware datetime as fixed-width UTC text (naive is taken as UTC)."""
    if dt.tzinfo is not timezone.utc:
        dt = (dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None
              else dt.astimezone(timezone.utc))
    return dt.isoformat(timespec="microseconds")


def parse_moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def day_start(day: date) -> datetime:
    """00:00 local time (UTC+8) of a local date, as an aware datetime."""
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ)


def local(dt: datetime) -> datetime:
    return dt.astimezone(LOCAL_TZ)


def local_year(dt: datetime) -> int:
    return local(dt).year


def show_moment(text: str) -> str:
    """A stored moment as a chairperson reads it: local date and time."""
    return local(parse_moment(text)).strftime("%Y-%m-%d %H:%M")


def show_day(text: str) -> str:
    return local(parse_moment(text)).strftime("%Y-%m-%d")


def api_moment(text: str | None) -> str | None:
    """A stored moment for a response: ISO 8601 in UTC without zero microseconds."""
    return None if text is None else parse_moment(text).isoformat()
