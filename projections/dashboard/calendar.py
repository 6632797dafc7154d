"""The dashboard's calendar: local days, months and 旬 (xun, the ten-day
thirds of a month that Chinese offices report by) as numbers, and a range of
whole days cut into the fewest rollup rows a key.

Rollup rows exist per local day (`d`), 旬 (`x`), month (`m`) and as running
totals through a month (`c`, dashboard_running.py). A range is read as a sum
of such rows, some taken away: the whole months in it as month rows or the
difference of two running totals, a month cut short as its 旬 and days, or
as the whole month less what is left out, whichever is fewer rows.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from projections.dashboard import running
from projections.moments import LOCAL_TZ

# Days are local days of the district (projections/moments.py: UTC+8, no DST).
DAY_OFFSET = LOCAL_TZ.utcoffset(None)
US = 1_000_000
DAY_US = 86_400 * US
OFFSET_US = DAY_OFFSET // timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)  # made once: a rebuild asks a few times a whistle

def to_us(at: datetime) -> int:
    """Microseconds since the epoch: exact, and comparable as integers in SQL."""
    return (at - _EPOCH) // _ONE_US


def day_start_us(day: int) -> int:
    return day * DAY_US - OFFSET_US


def local_day(us: int) -> int:
    return (us + OFFSET_US) // DAY_US


def day_date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day)


def date_day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def month_id(d: date) -> int:
    return d.year * 12 + d.month - 1


@lru_cache(maxsize=1 << 14)  # every issue's contribution asks; a few hundred days recur
def xun_id(day: int) -> int:
    """The 旬 a local day falls in (a month's days 1–10, 11–20 and 21 to its
    end): month_id·3 + 0, 1 or 2."""
    d = day_date(day)
    return month_id(d) * 3 + min(2, (d.day - 1) // 10)


def xun_day(xun: int) -> int:
    """The local day number of a 旬's first day."""
    return date_day(date(xun // 36, xun // 3 % 12 + 1, 1 + 10 * (xun % 3)))


def month_day(month: int) -> int:
    """The local day number of a month's first day."""
    return date_day(date(month // 12, month % 12 + 1, 1))


def periods(day: int) -> tuple[tuple[str, int], ...]:
    d = day_date(day)
    return (("d", day), ("m", month_id(d)), ("y", d.year))


# -- cutting a range into rollup periods and part-days ------------------------
def split(from_: datetime, to: datetime, last: int | None
          ) -> tuple[list[tuple[int, int]], list[tuple[str, int, int, int]]]:
    """([from, to) as µs intervals to scan row by row, [(grain, lo, hi, sign)]
    periods); `last`: the last month of the running totals."""
    f, t = to_us(from_), to_us(to)
    first = -(-(f + OFFSET_US) // DAY_US)  # the first local day starting at or after f
    end = (t + OFFSET_US) // DAY_US         # the local day in which t falls (it starts <= t)
    if first >= end:
        return [(f, t)], []
    rows = []
    if f < day_start_us(first):
        rows.append((f, day_start_us(first)))
    if day_start_us(end) < t:
        rows.append((day_start_us(end), t))
    return rows, calendar(first, end, last)


def calendar(a: int, b: int, last: int | None) -> list[tuple[str, int, int, int]]:
    """Whole local days [a, b) as (grain, lo, hi, sign) periods, each added
    (sign 1) or taken away (−1); `last`: the last month of the running totals."""
    return [p for p in _cover(a, b, 1, 0, last) if p[1] < p[2]]


# The levels of a cover: each with its unit of a day and the unit's first day.
_LEVELS = (("m", lambda day: month_id(day_date(day)), month_day), ("x", xun_id, xun_day))


def _cover(a: int, b: int, sign: int, level: int, last: int | None) -> list[tuple]:
    """[a, b) at `level` and finer, fewest rows first. The end units, cut
    short, are either read at the next level, or read whole less the next
    level's cover of what lies outside [a, b)."""
    if a >= b:
        return []
    if level == len(_LEVELS):
        return [("d", a, b, sign)]
    grain, unit, first = _LEVELS[level]
    ua, ub = unit(a), unit(b)  # b's unit holds the first day after the range
    options = [_cover(a, b, sign, level + 1, last)] if ua == ub else []
    for u0, head in ((ua, (first(ua), a, -sign)), (ua + 1, (a, first(ua + 1), sign))):
        for u1, tail in ((ub, (first(ub), b, sign)), (ub + 1, (b, first(ub + 1), -sign))):
            if u0 <= u1:  # (equal: the two ends meet, no whole unit between)
                options.append(_units(grain, u0, u1, sign, last)
                               + _cover(*head, level + 1, last) + _cover(*tail, level + 1, last))
    return min(options, key=lambda periods: sum(_rows(p) for p in periods))


def _units(grain: str, u0: int, u1: int, sign: int, last: int | None) -> list[tuple]:
    """Whole units [u0, u1). Months: month rows, or the running total through
    u1 − 1 less the one through u0 − 1 (two rows however many months)."""
    if u0 == u1:
        return []
    if grain != "m" or u1 - u0 <= 2 or last is None:
        return [(grain, u0, u1, sign)]
    if u0 > last:  # nothing was blown in those months yet
        return []
    top = min(u1 - 1, last)  # no running total goes past the last month
    return [(running.RUNNING, top, top + 1, sign), (running.RUNNING, u0 - 1, u0, -sign)]


def _rows(period: tuple) -> int:
    """Rows a key the period may read: one per unit (at most)."""
    grain, lo, hi, _ = period
    return 1 if grain == running.RUNNING else max(0, hi - lo)
