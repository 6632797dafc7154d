"""The one text form of a moment (projections/moments.py): fixed-width UTC
with microseconds, whatever offset the datetime carries, and the same text
again when asked twice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from projections.moments import LOCAL_TZ, moment


@pytest.mark.parametrize("dt, text", [
    # naive is taken as UTC
    (datetime(2026, 5, 1, 9, 0), "2026-05-01T09:00:00.000000+00:00"),
    (datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc), "2026-05-01T09:00:00.000000+00:00"),
    # 09:00:00.5 in UTC+8 is 01:00:00.5 UTC
    (datetime(2026, 5, 1, 9, 0, 0, 500_000, tzinfo=LOCAL_TZ),
     "2026-05-01T01:00:00.500000+00:00"),
    # 07:59 on 1 May in UTC+8 is 23:59 UTC on 30 April
    (datetime(2026, 5, 1, 7, 59, tzinfo=timezone(timedelta(hours=8))),
     "2026-04-30T23:59:00.000000+00:00"),
    # 22:30 in UTC-5:30 is 04:00 UTC the next day
    (datetime(2026, 12, 31, 22, 30, 0, 1, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
     "2027-01-01T04:00:00.000001+00:00"),
])
def test_a_moment_is_fixed_width_utc_text(dt: datetime, text: str) -> None:
    assert moment(dt) == text
    assert moment(dt) == text  # again, from the memo
    assert len(text) == 32


def test_equal_instants_in_different_offsets_give_one_text() -> None:
    # 09:00 UTC+8, 01:00 UTC and naive 01:00 are the same instant
    texts = {moment(datetime(2026, 5, 1, 9, tzinfo=LOCAL_TZ)),
             moment(datetime(2026, 5, 1, 1, tzinfo=timezone.utc)),
             moment(datetime(2026, 5, 1, 1))}
    assert texts == {"2026-05-01T01:00:00.000000+00:00"}


def test_an_ambiguous_wall_time_in_a_zone_with_daylight_saving() -> None:
    # London's clocks go back at 02:00 BST on 25 Oct 2026: 01:30 happens twice,
    # first in BST (UTC+1, 00:30 UTC), then in GMT (01:30 UTC). The two compare
    # equal as datetimes of one zone, so neither may answer for the other.
    london = ZoneInfo("Europe/London")
    first = datetime(2026, 10, 25, 1, 30, tzinfo=london)
    second = datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=london)
    assert moment(first) == "2026-10-25T00:30:00.000000+00:00"
    assert moment(second) == "2026-10-25T01:30:00.000000+00:00"
    assert moment(first) == "2026-10-25T00:30:00.000000+00:00"
