"""The district's clock for the views: its local time zone, and the one text
form of a moment that the agenda and rankings tables keep.

Moments are stored as fixed-width UTC text (`2026-05-01T09:00:00.000000+00:00`)
so that comparing two of them as strings in SQL compares them in time, on
SQLite and PostgreSQL alike. Dates (`2026-05-01`) are local dates of the
district, China Standard Time (UTC+8, no daylight saving).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from adapters.limits import check_day, check_moment

# Changing it means rebuilding the views: rollups are keyed by local day.
LOCAL_TZ = timezone(timedelta(hours=8), "CST")


def moment(dt: datetime) -> str:
    """A timezone-aware datetime as fixed-width UTC text (naive is taken as UTC)."""
    tz = dt.tzinfo
    if tz is not timezone.utc:
        dt = dt.replace(tzinfo=timezone.utc) if tz is None else dt.astimezone(timezone.utc)
    # isoformat() without `timespec` is the cheaper call (a rebuild makes
    # some four a whistle); it leaves out zero microseconds, put back here.
    text = dt.isoformat()
    return text if dt.microsecond else f"{text[:19]}.000000{text[19:]}"


def parse_moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def parse_bound(text: str, end: bool = False) -> datetime:
    """A bound of a period as people write it: a local date (its midnight,
    UTC+8; with `end`, the midnight after it, so the whole day counts) or a
    datetime that carries a timezone, within the window of adapters/limits.py."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = check_day(date.fromisoformat(text))
            return day_start(day + timedelta(days=1) if end else day)
        bound = datetime.fromisoformat(text)
    except ValueError as e:
        if str(e).startswith("must be between"):
            raise
        raise ValueError("a date (2026-05-01) or a datetime with a timezone") from None
    if bound.tzinfo is None:
        raise ValueError("a datetime must carry a timezone, e.g. 2026-05-01T09:00:00+08:00")
    return check_moment(bound)


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
