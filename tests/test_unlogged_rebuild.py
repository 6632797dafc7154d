"""A rebuild on PostgreSQL writes unlogged tables (projections/unlogged.py):
logged once it is done, and started again from the log when a crash of
PostgreSQL emptied them mid-way, never left with a position its rows lack."""
from __future__ import annotations

import psycopg
import pytest

from projections import feed as base
from projections.feed import drop, feed, rebuild, table_rows, tracked_position
from projections.issues.view import IssuesView
from projections.unlogged import MARK
from projections.registry import all_views
from service_layer.bootstrap import bootstrap
from adapters.settings import Settings
from tests.test_issues_rebuild import FailsOn, history, last_reopening


@pytest.fixture
def pg_services(postgres_schema):
    services = bootstrap(Settings(database_url=postgres_schema))
    yield services
    services.close()


def catalog(services, view, prefix: str, column: str) -> dict[str, object]:
    names = {view.table(services.db, prefix, b).split(".")[-1]: b for b in view.tables}
    rows = services.db.fetchall(
        f"SELECT relname, {column} FROM pg_class WHERE relkind = 'r' "
        "AND relnamespace = ?::regnamespace AND relname = ANY(?)",
        [services.db.schema, list(names)])
    return {names[name]: value for name, value in rows}


def persistence(services, view, prefix: str) -> dict[str, str]:
    """Each table's relpersistence: 'p' logged, 'u' unlogged."""
    return catalog(services, view, prefix, "relpersistence")


def loosened(services, view, prefix: str) -> set[str]:
    """The tables with room left in their pages (a fillfactor set)."""
    options = catalog(services, view, prefix, "reloptions")
    return {base for base, o in options.items() if o and any("fillfactor" in x for x in o)}


def mark_exists(services, view, prefix: str) -> bool:
    mark = view.table(services.db, prefix, MARK)
    return services.db.fetchall("SELECT to_regclass(?) IS NOT NULL", [mark])[0][0]


def test_a_short_log_is_rebuilt_logged(pg_services, clock):
    """Rewriting every table twice costs more than the log saves on a short
    log: below `UNLOGGED_FROM` positions a rebuild never goes unlogged."""
    history(pg_services, clock)
    view = IssuesView()
    failing = FailsOn(last_reopening(pg_services)[1], psycopg.OperationalError)
    try:
        with pytest.raises(Exception, match="cannot fold"):
            rebuild(pg_services.log, [view, failing], "re_")
        assert set(persistence(pg_services, view, "re_").values()) == {"p"}
        assert loosened(pg_services, view, "re_") == set()
        assert not mark_exists(pg_services, view, "re_")
    finally:
        drop(pg_services.log, view, "re_")


def test_a_finished_rebuild_leaves_every_table_logged(pg_services, clock, monkeypatch):
    monkeypatch.setattr(base, "UNLOGGED_FROM", 1)
    history(pg_services, clock)
    views = all_views()
    try:
        rebuild(pg_services.log, views, "re_")
        for view in views:
            assert set(persistence(pg_services, view, "re_").values()) == {"p"}, view.name
            assert not mark_exists(pg_services, view, "re_")
            assert loosened(pg_services, view, "re_") == set(), view.name
    finally:
        for view in views:
            drop(pg_services.log, view, "re_")


def test_a_rebuild_emptied_by_a_crash_starts_again_from_the_log(pg_services, clock,
                                                                monkeypatch):
    services = pg_services
    history(services, clock)
    view = IssuesView()
    with services.db.transaction() as cur:
        view.create_tables(services.db, cur, "")
    feed(services.log, view)  # what a follower holds: the rows to end with
    before, poison = last_reopening(services)
    monkeypatch.setattr(base, "REBUILD_BATCH", before)
    monkeypatch.setattr(base, "UNLOGGED_FROM", 1)
    failing = FailsOn(poison, psycopg.OperationalError)  # cut short after one batch
    try:
        with pytest.raises(Exception, match=f"cannot fold {poison}"):
            rebuild(services.log, [view, failing], "re_")
        with services.db.transaction(commit=False) as cur:
            assert tracked_position(services.db, cur, "re_issues") > 0
        assert set(persistence(services, view, "re_").values()) == {"u"}
        assert loosened(services, view, "re_") == {"issues", "summonses"}
        assert mark_exists(services, view, "re_")
        # What PostgreSQL's recovery from a crash does to unlogged tables:
        # empties them (their definitions, the mark's included, remain).
        for base_name in (*view.tables, MARK):
            services.db.execute(f"TRUNCATE {view.table(services.db, 're_', base_name)}")

        feed(services.log, view, "re_")

        assert table_rows(services.log, view, "re_") == table_rows(services.log, view)
        assert set(persistence(services, view, "re_").values()) == {"p"}
        assert loosened(services, view, "re_") == set()
        assert not mark_exists(services, view, "re_")
    finally:
        drop(services.log, view, "re_")
