"""The packed histograms of the dashboard (projections/dashboard/cdf.py): the
arithmetic against plain sorted lists, and tables of earlier versions
settling on first start."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from projections.dashboard import cdf
from projections.dashboard.view import DashboardView
from projections.dashboard.query import query

EDGES = [0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 40_000, 1_048_575, 2**31 - 1]
F = cdf.field("compound")


def test_slots_cover_every_minute_once():
    for minute in EDGES + list(range(0, 5000)):
        g, i = cdf.group(minute), cdf.slot(minute)
        assert 0 <= i < cdf.width(g)
        start = cdf.slot_start(g, i)
        assert start == cdf.bucket(minute) <= minute < start + (1 << g)


def test_ranks_of_summed_histograms_are_the_sorted_lists():
    rnd = random.Random(3)
    for _ in range(200):
        mu = rnd.uniform(1, 8)
        values = [int(rnd.lognormvariate(mu, 1.5)) for _ in range(rnd.randint(1, 60))]
        parts = [values[i::3] for i in range(3)]  # three periods, added up
        groups, slots = 0, {}
        for part in parts:
            counts: dict[int, int] = {}
            for v in part:
                counts[v] = counts.get(v, 0) + 1
            pg, ps = cdf.pack(counts, F)
            groups += pg
            for g, s in ps.items():
                slots[g] = slots.get(g, 0) + s
        ordered = sorted(values)
        ranks = [1, (len(values) + 1) // 2, len(values)]
        layout = cdf.layout(cdf.GROUPS, F)
        totals = layout.running(groups)
        assert layout.size(totals) == len(values)
        for rank, (g, within) in zip(ranks, layout.locate(totals, ranks)):
            inner_layout = cdf.layout(cdf.width(g), F)
            ((i, inner),) = inner_layout.locate(inner_layout.running(slots[g]), [within])
            same_slot = sorted(v for v in values if cdf.bucket(v) == cdf.slot_start(g, i))
            assert same_slot[inner - 1] == ordered[rank - 1]


def test_stored_rows_read_back_as_the_numbers_they_hold():
    """The bytes of `encode` give back each group's number, added up over
    rows as the numbers themselves would be, and one value has one spelling."""
    rnd = random.Random(5)
    for dim in ("compound", "department"):
        f = cdf.field(dim)
        for _ in range(100):
            rows = [cdf.pack({int(rnd.lognormvariate(rnd.uniform(1, 9), 1.5)): rnd.randint(1, 9)
                              for _ in range(rnd.randint(1, 20))}, f) for _ in range(3)]
            stored = [cdf.encode(r, f) for r in rows]
            assert [cdf.decode(*b, f) for b in stored] == rows
            assert sum(int.from_bytes(b[0], "little") for b in stored) == sum(r[0] for r in rows)
            for g in range(cdf.GROUPS):
                assert sum(cdf.slots_of(b[1], cdf.mask_of(b[1]), g, f) for b in stored) \
                    == sum(r[1].get(g, 0) for r in rows)
    f = cdf.field("compound")
    assert cdf.encode((cdf.pack({5: 1}, f)[0], {0: 1 << (f * 5), 3: 0}), f) \
        == cdf.encode(cdf.pack({5: 1}, f), f)  # an empty group is left out
    assert cdf.encode((0, {}), f) == (b"", bytes(4))


def test_deltas_take_back_what_they_added():
    f = cdf.field("department")
    before, after = cdf.pack({5: 2, 300: 1}, f), cdf.pack({5: 2, 300: 1, 9000: 1}, f)
    delta, undo = cdf.pack({9000: 1}, f), cdf.pack({9000: -1}, f)
    assert before[0] + delta[0] == after[0] and after[0] + undo[0] == before[0]
    assert {g: before[1].get(g, 0) + delta[1].get(g, 0) for g in after[1]} == after[1]


def test_a_rank_at_the_edge_of_a_full_field():
    """Counts up to 2^BITS − 1 in one slot: the guard bit above them is what
    locate relies on, so a field one short of full must still be read right."""
    f = cdf.field("compound")
    most = (1 << cdf.BITS["compound"]) - 1
    layout = cdf.layout(cdf.GROUPS, f)
    totals = layout.running(cdf.pack({3: most - 2, 70: 1, 9000: 1}, f)[0])
    assert layout.size(totals) == most
    g70, g9000 = cdf.group(70), cdf.group(9000)
    assert layout.locate(totals, [1, most - 2, most - 1, most]) == [
        (0, 1), (0, most - 2), (g70, 1), (g9000, 1)]


def test_tables_of_earlier_versions_settle_on_first_start(services, follower, clock):
    g = services.governance
    g.register_compound(code="C1", name="C1", district="D", street="S", community="M",
                        grids=[], households=1, kind="old", management_mode="professional")
    blown = datetime(2026, 3, 2, tzinfo=timezone.utc)
    for i, minutes in enumerate((3, 70, 70, 500, 9000)):
        g.blow_whistle("C1", grid_worker="w", issue_id=f"i{i}", category="noise",
                       description="d", departments=["fire"], urgency="normal",
                       source="resident", grid=None, building=None, unit=None, at=blown)
        g.report_in("C1", f"i{i}", department="fire", officer="o",
                    at=blown + timedelta(minutes=minutes))
    follower.catch_up()
    view, db = DashboardView(), services.db
    f, to, now = blown - timedelta(days=1), blown + timedelta(days=40), blown + timedelta(days=50)
    expected = query(services.log, "", f, to, "compound", now)[0]
    assert (expected[0]["median_minutes_to_report"], expected[0]["p90_minutes_to_report"]) \
        == (70, 9000)
    t = view.names(db, "")
    old = [view.table(db, "", b) for b in ("buckets", "minutes", "cdf", "histograms")]
    with db.transaction() as cur:  # what earlier versions left: other histogram tables
        cur.execute(f"DROP TABLE {t['report_minutes']}")
        for table in old:
            cur.execute(f"CREATE TABLE {table} (n INTEGER)")
    with db.transaction() as cur:
        view.create_tables(db, cur, "")
        assert view.stale(db, cur, "")
        for table in old:  # gone
            cur.execute(f"CREATE TABLE {table} (n INTEGER)")
            cur.execute(f"DROP TABLE {table}")
    assert query(services.log, "", f, to, "compound", now)[0] == expected  # read row by row
    with db.transaction() as cur:
        view.settle(db, cur, "")
        assert not view.stale(db, cur, "")
    assert query(services.log, "", f, to, "compound", now)[0] == expected
