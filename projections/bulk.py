"""Statements over many rows or keys at once, on either engine.

On PostgreSQL every value is one array parameter per column, so the
statement's text does not grow with the rows: psycopg parses the text of a
statement for its placeholders on every call it has not cached, and for a
thousand rows of thirty columns that parse cost more than the database did.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from service_layer.db import Cursor, Database

_SQLITE_IN = 500  # SQLite allows at most 999 (older builds) parameters


def upsert(db: Database, cur: Cursor, table: str, columns: tuple[str, ...],
           keys: tuple[str, ...], rows: list[tuple], add: str | None = None) -> None:
    """INSERT … ON CONFLICT for many rows. With `add` (the table's unqualified
    name), the non-key columns are added to the stored ones; otherwise they
    replace them. No two rows may share a key."""
    if not rows:
        return
    others = [c for c in columns if c not in keys]
    sets = ", ".join(f"{c} = {add}.{c} + excluded.{c}" if add else f"{c} = excluded.{c}"
                     for c in others)
    head = f"INSERT INTO {table} ({', '.join(columns)}) "
    tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    if not db.is_postgres:
        cur.executemany(head + "VALUES (" + ", ".join("?" for _ in columns) + ")" + tail, rows)
        return
    arrays = [list(c) for c in zip(*rows)]
    casts = ", ".join(f"?::{_pg_type(a)}[]" for a in arrays)
    cur.execute(f"{head}SELECT * FROM unnest({casts}){tail}", arrays)


def _pg_type(values: list) -> str:
    # The tables hold only TEXT and integers; a column of nothing but NULLs
    # in this batch is one of the nullable integer columns.
    return "text" if any(isinstance(v, str) for v in values) else "bigint"


def where_in(db: Database, column: str, values: Sequence) -> Iterator[tuple[str, list]]:
    """(condition, params) pairs that together select `column` IN `values`."""
    if db.is_postgres:
        if values:
            yield f"{column} = ANY(?::{_pg_type(list(values))}[])", [list(values)]
        return
    for i in range(0, len(values), _SQLITE_IN):
        chunk = list(values[i:i + _SQLITE_IN])
        yield f"{column} IN ({', '.join('?' for _ in chunk)})", chunk


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
