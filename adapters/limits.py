"""What every store and view can hold, checked where input comes in: API
bodies, path and query parameters, the command line. An event the views
cannot fold (a NUL that PostgreSQL's TEXT refuses, a count beyond its
INTEGER, a year Python's datetime cannot add a day to) must never be
written; the follower sets aside what slips through anyway
(projections/set_aside.py). README.md's "Limits" lists these bounds.
"""
from __future__ import annotations

import re

from datetime import date, datetime, time, timedelta, timezone

# Every date and moment a request may carry or ask about, inclusive. Wide
# enough for imported history and long terms of office, far enough from
# year 1 and 9999 that a deadline or a time-zone shift stays representable.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
FIRST_MOMENT = datetime.combine(EARLIEST, time(0), tzinfo=timezone.utc) - timedelta(days=1)
LAST_MOMENT = datetime.combine(LATEST, time(0), tzinfo=timezone.utc) + timedelta(days=2)

# Items of any list in a request (members, attendees, decisions, issues
# discussed, grids); departments summoned by one whistle or decision.
MAX_ITEMS = 200
MAX_DEPARTMENTS = 50
# Households of a compound, respondents of a survey: far below PostgreSQL's
# INTEGER (2^31 - 1), far above any real compound.
MAX_COUNT = 1_000_000
# A log position (BIGINT).
MAX_POSITION = 2**63 - 1

# A code: of a compound, a company, a department, an issue in a path.
CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# C0 control characters (and DEL); free text may keep tab, line feed and
# carriage return.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_IN_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_day(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return value


def check_year(value: int) -> int:
    if not EARLIEST.year <= value <= LATEST.year:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
    return value


def check_moment(value: datetime) -> datetime:
    """A moment (naive is taken as UTC) whose date falls in the window in
    any time zone."""
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not FIRST_MOMENT < aware < LAST_MOMENT:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return value


def check_text(value: str, free: bool = False) -> str:
    """No NUL nor other C0 control character (free text may keep tab and
    line breaks), and no lone surrogate (not encodable as UTF-8)."""
    found = (_CONTROL_IN_FREE_TEXT if free else _CONTROL).search(value)
    if found:
        raise ValueError(f"must not contain the control character U+{ord(found.group()):04X}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain a lone surrogate (not valid Unicode text)") from None
    return value


def check_name(value: str) -> str:
    return check_text(value, free=False)


def check_free_text(value: str) -> str:
    return check_text(value, free=True)
