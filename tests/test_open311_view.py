"""The `open311` view: followed in small batches it holds what a rebuild
from the log holds, and each row says what the compound's own history says."""
from __future__ import annotations

from projections.feed import drop, feed, rebuild, table_rows
from projections.moments import moment
from projections.open311.view import Open311View
from projections.feed import create_view_tables
from service_layer.demo import load_demo


def test_followed_equals_rebuilt_and_the_aggregates(services, clock):
    g, view = services.governance, Open311View()
    create_view_tables(services.log, [view])
    count = load_demo(services, clock())
    feed(services.log, view)
    codes = sorted(r[1] for r in table_rows(services.log, view)["compounds"])
    assert len(codes) == count
    g.locate_compound(codes[0], latitude=39.9, longitude=116.3, address="A 路 1 号",
                      zipcode="100080")
    g.locate_compound(codes[0], latitude=39.91, longitude=116.31, address=None, zipcode=None)
    with services.db.transaction() as cur:  # followed again from the start, in small batches
        view.drop_tables(services.db, cur, "")
        view.create_tables(services.db, cur, "")
        cur.execute(f"UPDATE {services.db.table('rw_tracking')} SET position = 0 "
                    "WHERE view = 'open311'")
    feed(services.log, view, batch_size=7)  # an issue's events fall in different batches
    try:
        rebuild(services.log, view, prefix="re_")
        assert table_rows(services.log, view) == table_rows(services.log, view, "re_")
    finally:
        drop(services.log, view, "re_")

    rows = {r[1]: r for r in table_rows(services.log, view)["requests"]}
    issues = [(c, i) for c in map(g.compound, codes) for i in c.issues.values()]
    assert len(rows) == len(issues) > 100
    for compound, issue in issues:
        row = rows[issue["issue_id"]]
        assert row[2] == compound.code and row[3] == issue["category"]
        assert row[6] == issue["status"]
        assert row[11] == moment(issue["resolve_due_at"])
        notes = [(p["at"], p["note"]) for p in issue["progress"]]
        notes += [(r["at"], r["how"]) for r in issue["resolutions"]]
        if notes and not issue["reopened"]:
            assert row[7] == max(notes, key=lambda n: n[0])[1]
    located = {r[1]: r for r in table_rows(services.log, view)["compounds"]}[codes[0]]
    assert located[4:] == (39.91, 116.31, None, None)

