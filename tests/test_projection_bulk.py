"""The bulk statements write and find exactly the values given, on both
engines, whatever the rows hold: the types come from the table, so a column
of nothing but NULLs, floats that print long and text with COPY's own
escape characters all come back unchanged."""
from __future__ import annotations

import pytest

from projections.bulk import insert_rows, update_rows, upsert, where_in

COLUMNS = ("k", "n", "small", "score", "note")
TRICKY = ["tab\there", "new\nline", "back\\slash", "quote\"'", "红哨 \\N", "", "%s ?"]


@pytest.fixture
def table(services):
    db = services.db
    name = db.table("rw_bulk_check")
    with db.transaction() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(f"CREATE TABLE {name} (k TEXT PRIMARY KEY, n BIGINT, small INTEGER, "
                    "score DOUBLE PRECISION, note TEXT)")
    return name


def stored(services, table):
    return sorted(services.db.fetchall(f"SELECT {', '.join(COLUMNS)} FROM {table}"))


def test_rows_go_in_and_come_back_exactly(services, table):
    db = services.db
    rows = [(f"k{i}", 2 ** 40 + i, None, 89.97499999999999 + i, TRICKY[i % len(TRICKY)])
            for i in range(20)]
    with db.transaction() as cur:
        insert_rows(db, cur, table, COLUMNS, rows)
        insert_rows(db, cur, table, COLUMNS, [])
    assert stored(services, table) == sorted(rows)


def test_upsert_replaces_or_adds_and_update_sets(services, table):
    db = services.db
    with db.transaction() as cur:
        upsert(db, cur, table, COLUMNS, ("k",), [("a", 1, 2, 0.5, "x"), ("b", None, None, None,
                                                                        None)])
        # Replaces every other column, NULLs included.
        upsert(db, cur, table, COLUMNS, ("k",), [("a", None, 3, 1.25, "tab\ty"),
                                                 ("c", 7, 8, 9.0, "z")])
        update_rows(db, cur, table, ("k",), ("note", "small"),
                    [("set", 40, "b"), ("\\N", None, "c"), ("nobody", 1, "missing")])
    assert stored(services, table) == [("a", None, 3, 1.25, "tab\ty"),
                                       ("b", None, 40, None, "set"),
                                       ("c", 7, None, 9.0, "\\N")]
    with db.transaction() as cur:
        upsert(db, cur, table, ("k", "n", "small"), ("k",), [("c", 5, 1), ("d", 2, 3)],
               add="rw_bulk_check")
    # Added to what is stored; NULL plus a number stays NULL, as in SQL.
    assert [r[:3] for r in stored(services, table)] == [
        ("a", None, 3), ("b", None, 40), ("c", 12, None), ("d", 2, 3)]


@pytest.mark.parametrize("column,values", [("k", [f"k{i}" for i in range(0, 1200, 2)]),
                                           ("n", list(range(0, 1200, 2)))])
def test_where_in_finds_every_value_in_any_number_of_parts(services, table, column, values):
    db = services.db
    with db.transaction() as cur:
        insert_rows(db, cur, table, ("k", "n"), [(f"k{i}", i) for i in range(1200)])
        found = []
        for where, params in where_in(db, column, values):
            cur.execute(f"SELECT k FROM {table} WHERE {where}", params)
            found += [r[0] for r in cur.fetchall()]
        assert sorted(found) == sorted(f"k{i}" for i in range(0, 1200, 2))
        assert list(where_in(db, column, [])) == []
