"""Statements over many rows or keys at once, on either engine.

Callers name columns only; the types are the table's own. On SQLite rows go
through executemany (a C loop). On PostgreSQL:

- new rows are streamed with COPY, which psycopg formats in C and the server
  parses by the table's column types (cheaper than the JSON form below);
- rows that may meet stored ones (upsert, update) travel as one JSON
  parameter that `json_populate_recordset(NULL::table, …)` turns back into
  records of the table's own type. The statement's text then does not grow
  with the rows (psycopg parses an uncached statement's text for
  placeholders, which for many rows of many columns cost more than the
  database did), nothing guesses a PostgreSQL type from Python values (a
  column of nothing but NULLs in a batch has none), and the json module's C
  encoder does the work that an array parameter per column did element by
  element in Python (most of such a statement's time).

How much each choice saved: bench/README.md, "Figures behind the code's
choices".

Values must be numbers, strings, bytes (for BYTEA: PostgreSQL's hex text in
the JSON) or None (a bool would not fit an integer column: pass int(flag)).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from adapters.db import Cursor, Database

_SQLITE_IN = 500  # SQLite allows at most 999 (older builds) parameters


def _bytea(value: object) -> str:
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    raise TypeError(f"a {type(value).__name__} is not a column value")


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                           default=_bytea).encode


def _records(table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> tuple[str, list]:
    """A FROM item `v` with the rows as records of `table`, and its parameters."""
    payload = _ENCODE([dict(zip(columns, r)) for r in rows])
    return f"json_populate_recordset(NULL::{table}, ?::json) AS v", [payload]


def insert_rows(db: Database, cur: Cursor, table: str, columns: Sequence[str],
                rows: Sequence[Sequence]) -> None:
    """INSERTs many rows."""
    if not rows:
        return
    cols = ", ".join(columns)
    if not db.is_postgres:
        marks = ", ".join("?" for _ in columns)
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        return
    cur.copy_rows(table, list(columns), rows)


def upsert(db: Database, cur: Cursor, table: str, columns: Sequence[str],
           keys: Sequence[str], rows: Sequence[Sequence], add: str | None = None) -> None:
    """INSERT … ON CONFLICT for many rows. With `add` (the table's unqualified
    name), the non-key columns are added to the stored ones; otherwise they
    replace them. No two rows may share a key."""
    if not rows:
        return
    sets = ", ".join(f"{c} = {add}.{c} + excluded.{c}" if add else f"{c} = excluded.{c}"
                     for c in columns if c not in keys)
    cols = ", ".join(columns)
    tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    if not db.is_postgres:
        marks = ", ".join("?" for _ in columns)
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks}){tail}", rows)
        return
    source, params = _records(table, columns, rows)
    cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}{tail}", params)


def update_rows(db: Database, cur: Cursor, table: str, keys: Sequence[str],
                sets: Sequence[str], rows: Sequence[Sequence]) -> None:
    """UPDATE table SET sets... WHERE keys... for many rows; each row is the
    `sets` values followed by the `keys` values."""
    if not rows:
        return
    if not db.is_postgres:
        assignments = ", ".join(f"{c} = ?" for c in sets)
        where = " AND ".join(f"{k} = ?" for k in keys)
        cur.executemany(f"UPDATE {table} SET {assignments} WHERE {where}", rows)
        return
    source, params = _records(table, [*sets, *keys], rows)
    assignments = ", ".join(f"{c} = v.{c}" for c in sets)
    where = " AND ".join(f"t.{k} = v.{k}" for k in keys)
    cur.execute(f"UPDATE {table} AS t SET {assignments} FROM {source} WHERE {where}", params)


def where_in(db: Database, column: str, values: Sequence) -> Iterator[tuple[str, list]]:
    """(condition, params) pairs that together select `column` IN `values`."""
    if db.is_postgres:
        # One array parameter; psycopg types it from the values, which as
        # keys are never NULL and all of the column's one type.
        if values:
            yield f"{column} = ANY(?)", [list(values)]
        return
    for i in range(0, len(values), _SQLITE_IN):
        chunk = list(values[i:i + _SQLITE_IN])
        yield f"{column} IN ({', '.join('?' for _ in chunk)})", chunk


def index_name(prefix: str, view: str, base: str, suffix: str) -> str:
    """An unqualified index name (PostgreSQL puts it in the table's schema)."""
    return f"{prefix}rw_{view}_{base}_{suffix}"
