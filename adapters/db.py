"""Plain SQL beside the event store, for tables that are not events (tokens,
read models, relay positions, seals). It borrows the event store's own
connection pool, so views and events live in one database and can share a
transaction."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.application import Application


class Database:
    def __init__(self, app: Application) -> None:
        self.datastore = app.factory.datastore  # type: ignore[attr-defined]
        self.is_postgres = type(self.datastore).__name__.startswith("Postgres")
        self.schema = getattr(self.datastore, "schema", None)
        if not self.is_postgres:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute("CREATE TABLE IF NOT EXISTS rw_write_lock (id INTEGER)")

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator["Cursor"]:
        with self.datastore.transaction(commit=commit) as cursor:
            if commit and not self.is_postgres:
                # The library opens SQLite transactions DEFERRED: one that reads
                # and then writes must upgrade its lock, and SQLite refuses an
                # upgrade at once ("database is locked") when another process
                # writes, without waiting. Writing first takes the write lock
                # up front, where SQLite does wait (SQLITE_LOCK_TIMEOUT).
                cursor.execute("DELETE FROM rw_write_lock WHERE 0")
            yield Cursor(cursor, self.is_postgres)

    def outside_transaction(self, sql: str) -> None:
        """A statement PostgreSQL will not run inside a transaction (VACUUM)."""
        with self.datastore.get_connection() as conn:
            conn.execute(sql)

    def table(self, name: str) -> str:
        """A table name qualified with the PostgreSQL schema in use, if any."""
        return f'"{self.schema}".{name}' if self.is_postgres and self.schema else name

    def execute(self, sql: str, params: tuple | list = ()) -> None:
        with self.transaction() as cur:
            cur.execute(sql, params)

    def fetchall(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self.transaction(commit=False) as cur:
            cur.execute(sql, params)
            return cur.fetchall()


class Cursor:
    """Takes SQLite's `?` placeholders on both engines and returns tuples."""

    def __init__(self, cursor: Any, is_postgres: bool) -> None:
        self._cursor = cursor
        self._pg = is_postgres
        if is_postgres:
            from psycopg.rows import tuple_row
            # The event store's pool hands out dict rows; duplicate column
            # names would collapse, so this cursor returns tuples.
            cursor.row_factory = tuple_row

    def _sql(self, sql: str, placeholder: str = "%s") -> str:
        return sql.replace("%", "%%").replace("?", placeholder) if self._pg else sql

    def execute(self, sql: str, params: tuple | list = (), binary: bool = False) -> None:
        """`binary`: on PostgreSQL the parameters and the results travel in its
        binary format (bytes of a BYTEA as they are, not as hex text; a list
        of strings without a check of each for quoting); SQLite has one."""
        if self._pg and binary:
            self._cursor.execute(self._sql(sql, "%b"), tuple(params), binary=True)
        else:
            self._cursor.execute(self._sql(sql), tuple(params))

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Statements `send`s in it run on the server while Python goes on;
        reading the rows of any waits for every statement sent before it
        (psycopg's pipeline mode). SQLite runs each as it is sent."""
        if not self._pg:
            yield
            return
        with self._cursor.connection.pipeline():
            yield

    def send(self, sql: str, params: tuple | list = (), binary: bool = False) -> "Cursor | Fetched":
        """Runs the statement on a cursor of its own in the same transaction,
        whose rows are read later with `fetchall`."""
        if not self._pg:
            self.execute(sql, params)
            return Fetched(self.fetchall())
        other = Cursor(self._cursor.connection.cursor(), self._pg)
        other.execute(sql, params, binary)
        return other

    def executemany(self, sql: str, rows: list) -> None:
        self._cursor.executemany(self._sql(sql), [tuple(r) for r in rows])

    def copy_rows(self, table: str, columns: list[str] | tuple[str, ...], rows: Any) -> None:
        """PostgreSQL's COPY FROM STDIN of many rows (a third of the time of an
        INSERT of the same rows); not on SQLite."""
        if not self._pg:
            raise NotImplementedError("COPY is PostgreSQL's")
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self._cursor.fetchall()]

    def fetchone(self) -> tuple | None:
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)


class Fetched:
    """A statement's rows, read as it was sent (SQLite's `Cursor.send`)."""

    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple]:
        return self._rows


class DeferredWrites:
    """A cursor that reads at once and keeps every other statement, to be run
    later, in order, by `replay` on a cursor of a writing transaction. For
    code that reads what it needs before it writes (a view's `apply`): on
    SQLite, where one connection writes at a time, the work between its
    reads and its writes then holds no lock."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor
        self._kept: list[tuple[bool, str, Any]] = []

    def execute(self, sql: str, params: tuple | list = (), binary: bool = False) -> None:
        if sql.lstrip()[:6].upper() == "SELECT":
            self._cursor.execute(sql, params, binary)
        else:
            self._kept.append((False, sql, tuple(params)))

    def executemany(self, sql: str, rows: list) -> None:
        self._kept.append((True, sql, [tuple(r) for r in rows]))

    def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall()

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone()

    def replay(self, cursor: Cursor) -> None:
        for many, sql, params in self._kept:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)


@contextmanager
def scratch_schema(base_url: str, prefix: str = "scratch", keep: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL schema for a test or a benchmark, dropped afterwards
    (unless `keep`); yields the DATABASE_URL that uses it."""
    import psycopg
    import uuid
    base_url = base_url.split("?")[0]
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base_url}?schema={schema}"
    finally:
        if not keep:
            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
