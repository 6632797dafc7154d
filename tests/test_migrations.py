"""The store's tables: made once by processes started together, a database of
release 0.1 upgraded in place, and a second migrate changing nothing."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from cli.main import main
from audit.sealer import Sealer
from adapters.eventstore import RedWhistle
from audit.verify import verify
from service_layer.bootstrap import bootstrap
from adapters.migrate import migrate, migration_ids
from adapters.settings import Settings, eventsourcing_env
from tests import story
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RELEASE_TOKEN = "rw_release-0.1-admin-token-for-the-upgrade-test"  # in the fixtures
STATE_TABLES = ("rw_tokens", "rw_relay_position", "rw_relay_aggregates", "rw_relay_issues",
                "rw_audit_chain", "rw_audit_seals", "rw_tracking")
# Half migrate, half start as `token create` does (open the store, write a row).
FIRST_STARTS = [["migrate"]] * 3 + [["token", "create", "--role", "viewer", "--name", "v"]] * 3


@contextmanager
def empty_database() -> Iterator[str]:
    """A database of its own (not a schema in `test`): as docker compose's is."""
    name = f"rw_mig_{uuid.uuid4().hex[:10]}"
    base = POSTGRES_URL.split("?")[0].rsplit("/", 1)[0]
    with psycopg.connect(POSTGRES_URL.split("?")[0], autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def start_together(database_url: str) -> list[subprocess.CompletedProcess]:
    env = dict(os.environ, DATABASE_URL=database_url)
    procs = [subprocess.Popen([sys.executable, "-m", "cli.main", *argv], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for argv in FIRST_STARTS]
    done = []
    for p, argv in zip(procs, FIRST_STARTS):
        out, err = p.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(argv, p.returncode, out, err))
    return done


def pg_rows(url: str, sql: str) -> list[tuple]:
    schema = eventsourcing_env(url)["POSTGRES_SCHEMA"] or "public"
    with psycopg.connect(url.split("?")[0]) as conn:
        conn.execute(f"SET search_path TO {schema}")
        return conn.execute(sql).fetchall()


def assert_made_once(rows) -> None:  # rows(sql) -> list of tuples
    assert rows("SELECT migration_id FROM _yoyo_migration") == [(i,) for i in migration_ids()]
    assert rows("SELECT role, COUNT(*) FROM rw_tokens GROUP BY role") == [("viewer", 3)]


# Five rounds: before the migrations, three or four rounds in five crashed
# (measured 6 of 10), so five clean ones are no accident.
@pytest.mark.parametrize("where", ["database", "schema"])
def test_six_simultaneous_first_starts_on_empty_postgres_never_crash(where: str) -> None:
    for _ in range(5 if where == "database" else 2):
        with (empty_database() if where == "database" else new_schema()) as url:
            # pool_size=2: six processes must not exhaust a server shared with
            # other tests (each opens its pool's minimum at once).
            url += ("&" if "?" in url else "?") + "pool_size=2"
            results = start_together(url)
            crashed = [(r.args, r.stderr[-600:]) for r in results if r.returncode]
            assert not crashed
            assert_made_once(lambda sql: pg_rows(url, sql))
            tables = {r[0] for r in pg_rows(url, "SELECT tablename FROM pg_tables WHERE "
                                                 "schemaname = current_schema()")}
            assert {"redwhistle_events", "redwhistle_snapshots", *STATE_TABLES} <= tables


@contextmanager
def new_schema() -> Iterator[str]:
    """A schema DATABASE_URL names and nobody has made yet: the first start does."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{POSTGRES_URL.split('?')[0]}?schema={name}"
    finally:
        with psycopg.connect(POSTGRES_URL.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def test_six_simultaneous_first_starts_on_sqlite(tmp_path) -> None:
    path = tmp_path / "fresh.sqlite"
    results = start_together(f"sqlite:///{path}")
    assert [r.returncode for r in results] == [0] * 6, [r.stderr[-600:] for r in results]
    with sqlite3.connect(path) as conn:
        assert_made_once(lambda sql: conn.execute(sql).fetchall())


def load_release_0_1(database_url: str) -> None:
    """The database release 0.1 made (tests/fixtures: its dump)."""
    env = eventsourcing_env(database_url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        with sqlite3.connect(env["SQLITE_DBNAME"]) as conn:
            conn.executescript((FIXTURES / "release-0.1.sqlite.sql").read_text())
        return
    dump = (FIXTURES / "release-0.1.postgres.sql").read_text()
    with psycopg.connect(database_url.split("?")[0]) as conn:
        conn.execute(dump.replace("__SCHEMA__", env["POSTGRES_SCHEMA"]))


def test_database_of_release_0_1_upgrades_in_place(database_url: str, monkeypatch,
                                                    capsys) -> None:
    load_release_0_1(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["migrate"]) == 0
    assert "applied now: 0001_baseline" in capsys.readouterr().out

    services = bootstrap(Settings(database_url=database_url))
    try:
        db = services.db
        # The rows 0.1 wrote are all there.
        assert services.tokens.principal(RELEASE_TOKEN).role == "admin"
        # made before tokens had times (0004): listed, none of them set
        (row,) = services.tokens.list()
        assert (row.role, row.created_at, row.expires_at, row.revoked_at) == ("admin", None,
                                                                              None, None)
        assert db.fetchall(f"SELECT relay, position FROM {db.table('rw_relay_position')}") == [
            ("kafka", 2)]
        assert db.fetchall(f"SELECT position FROM {db.table('rw_audit_seals')}") == [(2,)]
        assert sorted(db.fetchall(f"SELECT view, position FROM {db.table('rw_tracking')}")) == [
            ("agenda", 2), ("dashboard", 2), ("rankings", 2)]
        assert services.app.recorder.max_notification_id() == 2

        # And the app works on them: the token authenticates, a whistle is
        # written after 0.1's events and read back, the chain still verifies.
        admin = {"Authorization": f"Bearer {RELEASE_TOKEN}"}
        with TestClient(create_app(services)) as client:
            body = story.whistle(departments=["fire"])
            written = client.post("/v1/compounds/HU-001/whistles", json=body, headers=admin)
            assert written.status_code == 201, written.text
            read = client.get(f"/v1/compounds/HU-001/issues/{body['issue_id']}", headers=admin)
            assert read.status_code == 200
        assert services.app.recorder.max_notification_id() == 3
        assert Sealer(services.chain, services.settings, services.governance.clock,
                      publish=False).seal_now().position == 3
        assert verify(services.chain).ok
    finally:
        services.close()


def test_migrating_twice_changes_nothing(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = RedWhistle.from_settings(settings)
    try:
        assert migrate(app, database_url) == migration_ids()
        services = bootstrap(settings)  # (migrates too)
        try:
            services.tokens.create(role="viewer", name="kept")
            db = services.db
            before = db.fetchall(f"SELECT * FROM {db.table('_yoyo_migration')}")
            assert migrate(app, database_url) == []
            assert db.fetchall(f"SELECT * FROM {db.table('_yoyo_migration')}") == before
            assert db.fetchall(f"SELECT name FROM {db.table('rw_tokens')}") == [("kept",)]
        finally:
            services.close()
    finally:
        app.close()


def test_views_create_their_tables_together_on_postgres(postgres_schema: str) -> None:
    """serve and follow (or several followers) create the views' tables at
    once on a store whose views are new: one at a time, under the lock."""
    from projections.registry import all_views
    from projections.feed import create_view_tables
    each = [bootstrap(Settings(database_url=postgres_schema + "&pool_size=1"))
            for _ in range(6)]
    try:
        ready = threading.Barrier(len(each))
        failures: list[BaseException] = []

        def start(services) -> None:
            ready.wait()
            try:
                create_view_tables(services.log, all_views())
            except BaseException as exc:  # noqa: BLE001 (reported below)
                failures.append(exc)

        threads = [threading.Thread(target=start, args=(s,)) for s in each]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert each[0].db.fetchall("SELECT COUNT(*) FROM pg_tables WHERE schemaname = ? AND "
                                   "tablename LIKE 'rw_dashboard_%'", (each[0].db.schema,)) == [(5,)]
    finally:
        for services in each:
            services.close()


def test_an_install_with_the_open311_view_loses_its_tables_and_refolds_the_issues(
        database_url: str, clock) -> None:
    """The release before kept Open311's rows in a view of their own and an
    unnumbered issues view; migrating drops the former (0005), and the issues
    view, of another version, is refolded by the follower."""
    from projections.feed import ViewsFollower, create_view_tables, tracked_position
    from projections.registry import all_views
    services = bootstrap(Settings(database_url=database_url), clock=clock)
    try:
        db = services.db
        services.governance.register_compound(**story.compound(code="HU-001"))
        body = story.whistle(departments=["fire"], unit=None)
        services.governance.blow_whistle("HU-001", grid_worker="w", **body)
        create_view_tables(services.log, all_views())
        ViewsFollower(services.log, all_views()).catch_up()
        with db.transaction() as cur:  # as the release before left the store
            cur.execute(f"CREATE TABLE {db.table('rw_open311_requests')} (issue_id TEXT)")
            cur.execute(f"CREATE TABLE {db.table('rw_open311_compounds')} (id TEXT)")
            cur.execute(f"INSERT INTO {db.table('rw_tracking')} (view, position) VALUES "
                        "('open311', 2)")
            cur.execute(f"DROP TABLE {db.table('rw_issues_version')}")
            cur.execute(f"DELETE FROM {db.table('_yoyo_migration')} "
                        "WHERE migration_id = '0005_open311_view_retired'")

        assert migrate(services.app, database_url) == ["0005_open311_view_retired"]
        assert not db.fetchall(f"SELECT 1 FROM {db.table('rw_tracking')} "
                               "WHERE view = 'open311'")
        for gone in ("rw_open311_requests", "rw_open311_compounds"):
            with pytest.raises(Exception):
                db.fetchall(f"SELECT 1 FROM {db.table(gone)}")
        create_view_tables(services.log, all_views())  # as serve starts
        with db.transaction() as cur:
            assert tracked_position(db, cur, "issues") == 0
        ViewsFollower(services.log, all_views()).catch_up()
        with TestClient(create_app(services)) as client:
            read = client.get(f"/open311/v2/requests/{body['issue_id']}.json")
        assert read.status_code == 200, read.text
        assert read.json()[0]["address_id"] == "HU-001"
    finally:
        services.close()
