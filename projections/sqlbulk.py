"""Small helpers the agenda and rankings views share: batched writes that run
well on both engines, and the one text form of a moment their tables keep.

Moments are stored as fixed-width UTC text (`2026-05-01T09:00:00.000000+00:00`)
so that comparing two of them as strings in SQL compares them in time, on
SQLite and PostgreSQL alike. Dates (`2026-05-01`) are local dates of the
district, China Standard Time (UTC+8, no daylight saving).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone

from service_layer.db import Cursor, Database

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


def _split(columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Column specs are "name" (text) or "name:type" (bigint, integer,
    double precision): the names, and the PostgreSQL array types."""
    names, types = [], []
    for spec in columns:
        name, _, kind = spec.partition(":")
        names.append(name)
        types.append(f"{kind or 'text'}[]")
    return names, types


def _columns(rows: list[tuple], width: int) -> list[list]:
    return [list(col) for col in zip(*rows)] if rows else [[] for _ in range(width)]


def insert_rows(db: Database, cur: Cursor, table: str, columns: Sequence[str],
                rows: list[tuple]) -> None:
    """INSERTs many rows: executemany on SQLite (a C loop); on PostgreSQL one
    statement of one array parameter per column, unnested, so the statement
    text is short and the same for every batch."""
    if not rows:
        return
    names, types = _split(columns)
    cols = ", ".join(names)
    if not db.is_postgres:
        marks = ", ".join("?" for _ in names)
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        return
    arrays = ", ".join(f"?::{t}" for t in types)
    cur.execute(f"INSERT INTO {table} ({cols}) SELECT * FROM unnest({arrays})",
                _columns(rows, len(names)))


def update_rows(db: Database, cur: Cursor, table: str, keys: Sequence[str],
                sets: Sequence[str], rows: list[tuple]) -> None:
    """UPDATE table SET sets... WHERE keys... for many rows; each row is the
    `sets` values followed by the `keys` values (specs as for insert_rows)."""
    if not rows:
        return
    set_names, _ = _split(sets)
    key_names, _ = _split(keys)
    if not db.is_postgres:
        assignments = ", ".join(f"{c} = ?" for c in set_names)
        where = " AND ".join(f"{k} = ?" for k in key_names)
        cur.executemany(f"UPDATE {table} SET {assignments} WHERE {where}", rows)
        return
    names, types = _split([*sets, *keys])
    arrays = ", ".join(f"?::{t}" for t in types)
    assignments = ", ".join(f"{c} = v.{c}" for c in set_names)
    where = " AND ".join(f"t.{k} = v.{k}" for k in key_names)
    cur.execute(f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) "
                f"AS v({', '.join(names)}) WHERE {where}", _columns(rows, len(names)))


def index_name(prefix: str, view: str, base: str, suffix: str) -> str:
    """An unqualified index name (PostgreSQL puts it in the table's schema)."""
    return f"{prefix}rw_{view}_{base}_{suffix}"
