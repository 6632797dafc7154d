"""The store's tables, created and changed in one place, under a lock.

Processes started together (docker compose starts `api` and `relay` at once)
all migrate at start. PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe
from two sessions at once: both pass the check and one fails on a unique
index of the catalogue (`pg_type_typname_nsp_index`). So every change of
tables takes one lock per store: a PostgreSQL advisory lock keyed by the
schema, or on SQLite an exclusive lock on a file beside the database (SQLite
itself serialises the statements, but the migrations' bookkeeping must be read
and written by one process at a time).

Under it, in order:
- the event store's tables (events, snapshots), by the eventsourcing library's
  own `create_table()`; `RedWhistle.from_settings` turns off its creating them
  at construction, which took no lock;
- the numbered SQL files in `migrations/`, the only place that changes a
  table holding state (tokens, the relay's position, the hash chain and its
  seals, the views' tracking). yoyo-migrations records which ran, in tables
  of its own in the same schema (`_yoyo_migration`, `_yoyo_log`, ...).

Views are rebuilt from the log and create their own tables, holding the same
lock for the transaction that does (`hold_tables_lock`).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from adapters.settings import ConfigError, eventsourcing_env

MIGRATIONS = Path(__file__).with_name("migrations")


def migrate(app: Any, database_url: str | None) -> list[str]:
    """Brings the store's tables up to date; returns the ids of the migrations
    applied now (none when it already was). Safe from many processes at once."""
    from yoyo import get_backend, read_migrations

    env = eventsourcing_env(database_url)
    if env.get("SQLITE_DBNAME") == ":memory:":
        # yoyo's connection would see a database of its own, not the app's.
        raise ConfigError("DATABASE_URL sqlite:///:memory: cannot be migrated; use a file")
    with _store_lock(app, env):
        for recorder in (app.recorder, app.snapshots and app.snapshots.recorder):
            if recorder:
                recorder.create_table()
        backend = get_backend(_yoyo_uri(env))
        with backend:
            pending = backend.to_apply(read_migrations(str(MIGRATIONS)))
            backend.apply_migrations(pending)
        return [m.id for m in pending]


def migration_ids() -> list[str]:
    """Every migration shipped, in order."""
    return sorted(p.stem for p in MIGRATIONS.glob("*.sql"))


def hold_tables_lock(db: Any, cur: Any) -> None:
    """Inside a writing transaction that creates or drops tables: waits for a
    migration or another such transaction on this store, and keeps them
    waiting until it commits. SQLite's writing transactions already exclude
    one another (adapters/db.py takes the write lock first)."""
    if db.is_postgres:
        cur.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(db.schema),))


def _lock_key(schema: str | None) -> int:
    """Advisory locks are per database; one key per schema in it."""
    digest = hashlib.sha256(f"redwhistle tables {schema or 'public'}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _store_lock(app: Any, env: dict[str, str]) -> Iterator[None]:
    datastore = app.factory.datastore
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        key = _lock_key(datastore.schema)
        # A session lock, held across the library's transactions and yoyo's
        # connection; released with the connection if the process dies.
        with datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                _create_schema(conn, env["POSTGRES_SCHEMA"])
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return
    import fcntl
    # Released by the kernel when the file is closed, or the process dies.
    with open(env["SQLITE_DBNAME"] + ".migrate-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


def _create_schema(conn: Any, schema: str) -> None:
    """The schema DATABASE_URL names, if it is not there yet (asked first:
    creating needs a privilege on the database that using it does not)."""
    from psycopg.sql import SQL, Identifier
    if schema and not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                   (schema,)).fetchone():
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))


def _yoyo_uri(env: dict[str, str]) -> str:
    if env["PERSISTENCE_MODULE"] != "eventsourcing.postgres":
        return "sqlite:///" + env["SQLITE_DBNAME"]
    user, password = quote(env["POSTGRES_USER"], safe=""), quote(env["POSTGRES_PASSWORD"], safe="")
    schema = env["POSTGRES_SCHEMA"]
    return (f"postgresql+psycopg://{user}:{password}@{env['POSTGRES_HOST']}:"
            f"{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"
            + (f"?schema={quote(schema, safe='')}" if schema else ""))
