"""The response-rate dashboard through the HTTP API, on SQLite and PostgreSQL,
with every figure worked out by hand from the story below.

One module, though long: every test reads its figures off that one story;
split, each file would have to tell it again."""
from __future__ import annotations

import csv
import io
import math
import random
import statistics
from datetime import date, datetime, timedelta, timezone

import pytest

from projections.feed import drop, feed, rebuild
from projections.dashboard.view import DashboardView
from projections.dashboard.rows import SUMMONS_COLUMNS
from projections.dashboard.calendar import (
    LOCAL_TZ, calendar, date_day, month_id, split, to_us, xun_id)
from projections.dashboard import percentiles as dashboard_percentiles
from projections.dashboard.query import query
from adapters.settings import ConfigError, Settings
from tests import story

URL = "/v1/dashboard/response-rates"
NULL_RATES = ("response_rate", "median_minutes_to_report", "p90_minutes_to_report",
              "resolution_rate", "satisfaction_rate", "first_contact_satisfaction_rate",
              "three_rates_score")


def at(day: int, hour: int, minute: int = 0) -> str:
    """A moment of May 2026, local time (UTC+8)."""
    return f"2026-05-{day:02d}T{hour:02d}:{minute:02d}:00+08:00"


class Story:
    """Admin writes with explicit `at`, so every time is the test's choice."""

    def __init__(self, client, auth):
        self.client, self.h, self.position = client, auth["admin"], 0

    def post(self, path: str, body: dict) -> dict:
        r = self.client.post(path, json=body, headers=self.h)
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json()["position"] or 0)
        return r.json()

    def compound(self, code: str, street: str, community: str) -> None:
        self.post("/v1/compounds", story.compound(code, street=street, community=community))

    def whistle(self, code: str, departments: list[str], when: str, urgency="normal") -> str:
        body = story.whistle(departments, urgency=urgency, at=when)
        self.post(f"/v1/compounds/{code}/whistles", body)
        return body["issue_id"]

    def issue(self, code: str, issue_id: str, what: str, body: dict, when: str) -> None:
        self.post(f"/v1/compounds/{code}/issues/{issue_id}/{what}", dict(body, at=when))

    def report(self, code, issue_id, department, when):
        self.issue(code, issue_id, "reports", {"department": department, "officer": "Li"}, when)

    def resolve(self, code, issue_id, department, when):
        self.issue(code, issue_id, "resolution", {"department": department, "how": "fixed"}, when)

    def rate(self, code, issue_id, rating, when):
        self.issue(code, issue_id, "ratings", {"rating": rating}, when)


@pytest.fixture
def may(client, auth, clock):
    """Five issues in three compounds, 1–3 May 2026 (local time):

    i1 HD-001 fire+urban_management, normal, 1 May 10:00: fire reports after 10
       min, urban_management after 600; resolved; rated satisfied.
    i2 HD-001 fire, urgent, 1 May 11:00: fire reports after 180 min (due 120);
       resolved; rated unsatisfied (reopens); resolved again; rated satisfied.
    i3 HD-001 police, normal, 2 May 09:00: never reported.
    i4 HD-002 fire, normal, 2 May 12:00: reported after 30 min; resolved; rated
       basically satisfied.
    i5 HD-003 urban_management, normal, 3 May 08:00: reported after 45 min; open.
    """
    s = Story(client, auth)
    s.compound("HD-001", "Xinjiekou", "Huayuan")
    s.compound("HD-002", "Xinjiekou", "Fuxing")
    s.compound("HD-003", "Beitaipingzhuang", "Mingguang")
    i1 = s.whistle("HD-001", ["fire", "urban_management"], at(1, 10))
    s.report("HD-001", i1, "fire", at(1, 10, 10))
    s.report("HD-001", i1, "urban_management", at(1, 20))
    s.resolve("HD-001", i1, "fire", at(2, 10))
    s.rate("HD-001", i1, "satisfied", at(2, 11))
    i2 = s.whistle("HD-001", ["fire"], at(1, 11), urgency="urgent")
    s.report("HD-001", i2, "fire", at(1, 14))
    s.resolve("HD-001", i2, "fire", at(1, 18))
    s.rate("HD-001", i2, "unsatisfied", at(1, 19))
    s.resolve("HD-001", i2, "fire", at(2, 9))
    s.rate("HD-001", i2, "satisfied", at(2, 10))
    i3 = s.whistle("HD-001", ["police"], at(2, 9))
    i4 = s.whistle("HD-002", ["fire"], at(2, 12))
    s.report("HD-002", i4, "fire", at(2, 12, 30))
    s.resolve("HD-002", i4, "fire", at(2, 15))
    s.rate("HD-002", i4, "basically_satisfied", at(2, 16))
    i5 = s.whistle("HD-003", ["urban_management"], at(3, 8))
    s.report("HD-003", i5, "urban_management", at(3, 8, 45))
    clock.now = datetime.fromisoformat(at(5, 12))  # i3 is overdue; i5 is not yet
    s.ids = dict(i1=i1, i2=i2, i3=i3, i4=i4, i5=i5)
    return s


def get(client, auth, s, role="viewer", **params):
    params.setdefault("after", s.position)
    r = client.get(URL, params=params, headers=auth[role])
    assert r.status_code == 200, r.text
    return r


def rows(client, auth, s, **params) -> dict[str, dict]:
    return {row["key"]: row for row in get(client, auth, s, **params).json()["rows"]}


def test_by_department_figures(client, auth, may):
    got = rows(client, auth, may, **{"from": "2026-05-01", "to": "2026-05-04"})
    assert got["fire"] == dict(
        key="fire", summonses=3, reported=3, reported_in_time=2, response_rate=2 / 3,
        median_minutes_to_report=30, p90_minutes_to_report=180, issues=3, resolved=3,
        resolution_rate=1.0, rated=3, satisfied=3, satisfaction_rate=1.0, first_satisfied=2,
        first_contact_satisfaction_rate=2 / 3, open=0, overdue=0, escalated=0,
        three_rates_score=pytest.approx(100 * (30 * 2 / 3 + 35 * 1 + 35 * 1) / 100))
    # An issue counts under each department it summoned: i1 here and under fire.
    urban = got["urban_management"]
    assert (urban["summonses"], urban["reported_in_time"], urban["issues"], urban["resolved"],
            urban["open"], urban["overdue"]) == (2, 2, 2, 1, 1, 0)
    assert urban["median_minutes_to_report"] == 322.5  # (45 + 600) / 2
    assert urban["p90_minutes_to_report"] == 600
    assert urban["resolution_rate"] == 0.5 and urban["satisfaction_rate"] == 1.0
    police = got["police"]
    assert (police["summonses"], police["reported"], police["response_rate"]) == (1, 0, 0.0)
    assert police["median_minutes_to_report"] is None and police["satisfaction_rate"] is None
    assert police["three_rates_score"] is None  # no rating yet: no three-rates score
    assert (police["open"], police["overdue"]) == (1, 1)  # report was due 3 May 09:00
    # Every configured department has a row; an idle one has counts 0 and null rates.
    water = got["water"]
    assert water["summonses"] == water["issues"] == water["open"] == 0
    assert all(water[k] is None for k in NULL_RATES)


def test_by_place_counts_each_issue_once(client, auth, may):
    period = {"from": "2026-05-01", "to": "2026-05-04"}
    street = rows(client, auth, may, by="street", **period)
    assert set(street) == {"Xinjiekou", "Beitaipingzhuang"}
    x = street["Xinjiekou"]  # i1..i4
    assert (x["issues"], x["summonses"], x["reported"], x["reported_in_time"]) == (4, 5, 4, 3)
    assert x["response_rate"] == 0.6
    assert x["median_minutes_to_report"] == 105  # 10, 30 | 180, 600
    assert x["p90_minutes_to_report"] == 600     # rank ⌈0.9·4⌉ = 4
    assert (x["resolved"], x["rated"], x["satisfied"], x["first_satisfied"]) == (3, 3, 3, 2)
    assert (x["open"], x["overdue"]) == (1, 1)
    assert x["three_rates_score"] == pytest.approx(30 * 0.6 + 35 * 0.75 + 35 * 1.0)
    b = street["Beitaipingzhuang"]
    assert (b["issues"], b["resolved"], b["resolution_rate"], b["rated"]) == (1, 0, 0.0, 0)
    assert b["satisfaction_rate"] is None and b["first_contact_satisfaction_rate"] is None
    assert b["median_minutes_to_report"] == 45 and b["p90_minutes_to_report"] == 45

    community = rows(client, auth, may, by="community", **period)
    assert {k: v["issues"] for k, v in community.items()} == {
        "Huayuan": 3, "Fuxing": 1, "Mingguang": 1}
    assert community["Huayuan"]["first_contact_satisfaction_rate"] == 0.5  # i1 yes, i2 no
    assert community["Huayuan"]["satisfaction_rate"] == 1.0                # latest: both yes
    compound = rows(client, auth, may, by="compound", **period)
    assert {k: (v["summonses"], v["overdue"]) for k, v in compound.items()} == {
        "HD-001": (4, 1), "HD-002": (1, 0), "HD-003": (1, 0)}


def test_first_contact_versus_latest_satisfaction_after_reopen(client, auth, may):
    # Only i2 (1 May 11:00 .. 1 May 12:00): first rating unsatisfied, latest satisfied.
    got = rows(client, auth, may, by="compound",
               **{"from": "2026-05-01T11:00:00+08:00", "to": "2026-05-01T12:00:00+08:00"})
    i2 = got["HD-001"]
    assert (i2["issues"], i2["rated"], i2["satisfied"], i2["first_satisfied"]) == (1, 1, 1, 0)
    assert i2["satisfaction_rate"] == 1.0 and i2["first_contact_satisfaction_rate"] == 0.0
    assert i2["resolved"] == 1 and i2["reported_in_time"] == 0  # 180 min on a 120-min deadline


def test_overdue_moves_with_now(client, auth, may, clock):
    period = {"from": "2026-05-01", "to": "2026-05-04"}
    clock.now = datetime.fromisoformat(at(2, 8))  # before every deadline
    assert rows(client, auth, may, by="street", **period)["Xinjiekou"]["overdue"] == 0
    clock.now = datetime.fromisoformat(at(3, 9))  # i3's report-in deadline, inclusive
    assert rows(client, auth, may, **period)["police"]["overdue"] == 1
    clock.now = datetime.fromisoformat(at(10, 8))  # i5's resolution deadline (7 days)
    got = rows(client, auth, may, **period)
    assert got["urban_management"]["overdue"] == 1 and got["fire"]["overdue"] == 0
    # A late report ends the reporting part; i3 stays overdue while unresolved past due.
    may.report("HD-001", may.ids["i3"], "police", at(10, 8))
    clock.now = datetime.fromisoformat(at(9, 8))  # report done, resolution not yet due
    assert rows(client, auth, may, **period)["police"]["overdue"] == 0


def test_empty_periods_are_null_not_zero(client, auth, may):
    got = get(client, auth, may, by="street", **{"from": "2026-06-01", "to": "2026-07-01"})
    body = got.json()
    assert {r["key"] for r in body["rows"]} == {"Xinjiekou", "Beitaipingzhuang"}
    for row in body["rows"]:
        assert row["summonses"] == row["issues"] == row["overdue"] == 0
        assert all(row[k] is None for k in NULL_RATES)
    assert body["weights"] == dict(response=30.0, resolution=35.0, satisfaction=35.0)


def test_part_days_match_whole_days(client, auth, may):
    """Ranges cut mid-day are read row by row, whole days from the rollups, and
    long ones from month and year rollups; the figures do not depend on the cut."""
    whole = rows(client, auth, may, by="street", **{"from": "2026-05-01", "to": "2026-05-04"})
    cut = rows(client, auth, may, by="street",
               **{"from": "2026-04-30T23:59:59.5+08:00", "to": "2026-05-03T08:00:01+08:00"})
    wide = rows(client, auth, may, by="street", **{"from": "2025-11-15", "to": "2027-02-10"})
    utc = rows(client, auth, may, by="street",  # 1 May 00:00 local is 30 April 16:00 UTC
               **{"from": "2026-04-30T16:00:00Z", "to": "2026-05-04T00:00:00+08:00"})
    assert cut == whole == wide == utc
    # Only i2 and i3 lie in [1 May 10:30, 2 May 10:00).
    part = rows(client, auth, may, by="street",
                **{"from": "2026-05-01T10:30:00+08:00", "to": "2026-05-02T10:00:00+08:00"})
    assert (part["Xinjiekou"]["issues"], part["Xinjiekou"]["summonses"]) == (2, 2)
    assert part["Beitaipingzhuang"]["issues"] == 0


def test_p90_is_nearest_rank(client, auth, clock):
    s = Story(client, auth)
    s.compound("HD-001", "Xinjiekou", "Huayuan")
    for minutes in (5, 10, 15, 20, 25, 30, 35, 40, 45, 600):
        issue = s.whistle("HD-001", ["water"], at(1, 8))
        s.report("HD-001", issue, "water", (datetime.fromisoformat(at(1, 8))
                                            + timedelta(minutes=minutes, seconds=59)).isoformat())
    water = rows(client, auth, s, **{"from": "2026-05-01", "to": "2026-05-02"})["water"]
    assert water["median_minutes_to_report"] == 27.5  # (25 + 30) / 2; seconds round down
    assert water["p90_minutes_to_report"] == 45       # the 9th of 10, not interpolated
    assert water["reported_in_time"] == 10 and water["response_rate"] == 1.0


@pytest.fixture
def environment() -> dict[str, str]:
    """Variables set before the service starts; a test parametrizes it."""
    return {}


@pytest.fixture
def settings(settings, environment, monkeypatch):
    """conftest's settings, read from the environment when a test sets one:
    Settings reads it once, at start, as `serve` does."""
    if not environment:
        return settings
    for name, value in dict(environment, DATABASE_URL=settings.database_url).items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


@pytest.mark.parametrize("environment", [{"THREE_RATES_WEIGHTS": "1,1,2"}])
def test_weights_come_from_the_environment(client, auth, may, monkeypatch):
    monkeypatch.setenv("THREE_RATES_WEIGHTS", "5,5,5")  # too late: read at start
    got = get(client, auth, may, by="street", **{"from": "2026-05-01", "to": "2026-05-04"})
    x = {r["key"]: r for r in got.json()["rows"]}["Xinjiekou"]
    assert x["three_rates_score"] == pytest.approx(100 * (0.6 + 0.75 + 2 * 1.0) / 4)
    assert got.json()["weights"] == dict(response=1.0, resolution=1.0, satisfaction=2.0)


@pytest.mark.parametrize("raw", ["1,1", "1,x,2", "-1,1,1", "0,0,0"])
def test_bad_weights_fail_at_start(raw, monkeypatch):
    monkeypatch.setenv("THREE_RATES_WEIGHTS", raw)
    with pytest.raises(ConfigError, match="THREE_RATES_WEIGHTS"):
        Settings.from_env()


def test_csv(client, auth, may):
    period = {"from": "2026-05-01", "to": "2026-05-04", "by": "street"}
    r = get(client, auth, may, format="csv", **period)
    by_accept = client.get(URL, params=dict(period, after=may.position),
                           headers=dict(auth["official"], Accept="text/csv"))
    assert r.headers["content-type"].startswith("text/csv") and r.text == by_accept.text
    table = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert list(table[0])[:5] == ["key", "summonses", "reported", "reported_in_time",
                                  "response_rate"]
    b = next(row for row in table if row["key"] == "Beitaipingzhuang")
    assert (b["summonses"], b["resolution_rate"], b["satisfaction_rate"]) == ("1", "0.0", "")


def test_bad_requests(client, auth, may):
    bad = [({"from": "2026-05-04", "to": "2026-05-01"}, "to"),
           ({"from": "2026-05-01T10:00:00", "to": "2026-05-04"}, "from"),
           ({"from": "yesterday", "to": "2026-05-04"}, "from"),
           ({"from": "2026-05-01", "to": "2026-05-04", "as_of": "x"}, "as_of")]
    for params, field in bad:
        r = client.get(URL, params=params, headers=auth["viewer"])
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == field, r.text
    r = client.get(URL, params={"from": "2026-05-01", "to": "2026-05-04", "by": "grid"},
                   headers=auth["viewer"])
    assert r.status_code == 422
    assert client.get(URL, params={"from": "2026-05-01", "to": "2026-05-04"}).status_code == 401


def test_as_of_shows_what_was_live_then(client, auth, clock):
    """as_of is the time of record (when events were recorded: the clock of
    the use cases, stepped here), and writes carry no `at`."""
    today = clock.now.astimezone(timezone(timedelta(hours=8))).date()
    period = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    h = auth["admin"]
    before_anything = clock.now
    clock.advance(seconds=1)
    client.post("/v1/compounds", json=story.compound("HD-001"), headers=h)
    first = story.whistle(["fire", "police"])
    client.post("/v1/compounds/HD-001/whistles", json=first, headers=h)
    r = client.post(f"/v1/compounds/HD-001/issues/{first['issue_id']}/reports",
                    json={"department": "fire", "officer": "Li"}, headers=h)
    then_position = r.json()["position"]
    live_then = client.get(URL, params=dict(period, after=then_position),
                           headers=auth["viewer"]).json()
    moment = clock.advance(seconds=1)
    clock.advance(seconds=1)
    path = f"/v1/compounds/HD-001/issues/{first['issue_id']}"
    client.post(f"{path}/resolution", json={"department": "fire", "how": "x"}, headers=h)
    client.post(f"{path}/ratings", json={"rating": "satisfied"}, headers=h)
    second = story.whistle(["fire"])
    r = client.post("/v1/compounds/HD-001/whistles", json=second, headers=h)
    live_now = client.get(URL, params=dict(period, after=r.json()["position"]),
                          headers=auth["viewer"]).json()
    assert live_now["rows"] != live_then["rows"]

    past = client.get(URL, params=dict(period, as_of=moment.isoformat()),
                      headers=auth["auditor"]).json()
    assert past["rows"] == live_then["rows"] and past["position"] == then_position
    fire = {row["key"]: row for row in past["rows"]}["fire"]
    assert (fire["summonses"], fire["reported"], fire["resolved"]) == (1, 1, 0)
    empty = client.get(URL, params=dict(period, as_of=before_anything.isoformat()),
                       headers=auth["viewer"]).json()
    assert empty["position"] == 0 and all(row["summonses"] == 0 for row in empty["rows"])
    latest = client.get(URL, params=dict(period, as_of=clock.advance(seconds=1).isoformat()),
                        headers=auth["viewer"]).json()
    assert latest["rows"] == live_now["rows"]
    # Scratch tables are dropped again.
    db = client.app.state.services.db
    with db.transaction(commit=False) as cur:
        cur.execute(f"SELECT COUNT(*) FROM {db.table('rw_tracking')} WHERE view LIKE 'asof%'")
        assert cur.fetchone()[0] == 0


# -- the view's internals: calendar cuts and the two ways to roll up ------------

def test_split_into_periods():
    d = lambda text: datetime.fromisoformat(text)  # noqa: E731
    last = month_id(date(2026, 12, 1))  # the running totals' last month
    rows_, periods = split(d("2026-05-01T00:00:00+08:00"), d("2026-05-04T00:00:00+08:00"), last)
    assert rows_ == [] and [p[0] for p in periods] == ["d"] and periods[0][2] - periods[0][1] == 3
    rows_, periods = split(d("2026-05-01T10:00:00+08:00"), d("2026-05-01T11:00:00+08:00"), last)
    assert len(rows_) == 1 and periods == []
    # Nov 2025 (less its first 14 days: its first 旬 and four days) .. Jan 2027
    # (and 9 days of Feb: its first 旬 less a day): the running total through
    # Dec 2026 (the last month: none goes further) less the one through Oct 2025.
    day = lambda text: date_day(date.fromisoformat(text))  # noqa: E731
    xun = lambda text: xun_id(day(text))  # noqa: E731
    _, periods = split(d("2025-11-15T00:00:00+08:00"), d("2027-02-10T00:00:00+08:00"), last)
    assert periods == [("c", last, last + 1, 1), ("c", last - 14, last - 13, -1),
                       ("x", xun("2025-11-01"), xun("2025-11-11"), -1),
                       ("d", day("2025-11-11"), day("2025-11-15"), -1),
                       ("x", xun("2027-02-01"), xun("2027-02-11"), 1),
                       ("d", day("2027-02-10"), day("2027-02-11"), -1)]
    # 30 days cut mid-day: March less its first 旬, April's first 旬 less two days.
    rows_, periods = split(d("2026-03-10T09:30:00+08:00"), d("2026-04-09T17:45:00+08:00"), last)
    assert len(rows_) == 2 and periods == [
        ("m", last - 9, last - 8, 1), ("x", xun("2026-03-01"), xun("2026-03-11"), -1),
        ("x", xun("2026-04-01"), xun("2026-04-11"), 1), ("d", day("2026-04-09"), day("2026-04-11"), -1)]
    # Most of a month: the month less the days left out.
    _, periods = split(d("2026-05-03T00:00:00+08:00"), d("2026-05-28T00:00:00+08:00"), last)
    assert periods == [("m", last - 7, last - 6, 1), ("d", day("2026-05-01"), day("2026-05-03"), -1),
                       ("d", day("2026-05-28"), day("2026-06-01"), -1)]
    # Two whole months or fewer: month rows, as many as the running totals would take.
    _, periods = split(d("2026-03-01T00:00:00+08:00"), d("2026-05-01T00:00:00+08:00"), last)
    assert periods == [("m", month_id(date(2026, 3, 1)), month_id(date(2026, 5, 1)), 1)]
    # Months all after the last one: nothing blown there yet, no rows.
    _, periods = split(d("2027-03-01T00:00:00+08:00"), d("2027-09-01T00:00:00+08:00"), last)
    assert periods == []
    assert calendar(10, 10, last) == []


def test_incremental_rollups_equal_set_based(services, follower, clock, monkeypatch):
    """Random issues through the use cases, folded event by event, give the
    same rollups as recomputing them from the rows in SQL; and a rebuild from
    the log gives the same dashboard as the live view."""
    rnd = random.Random(7)
    g = services.governance
    departments = ["fire", "police", "water", "housing"]
    for n in range(3):
        g.register_compound(code=f"C{n}", name=f"C{n}", district="D", street=f"S{n % 2}",
                            community=f"M{n}", grids=[], households=1, kind="old",
                            management_mode="professional")
    start = datetime(2026, 1, 30, tzinfo=timezone.utc)
    for i in range(80):
        code, blown = f"C{rnd.randrange(3)}", start + timedelta(hours=rnd.randrange(24 * 70))
        depts = rnd.sample(departments, rnd.randint(1, 3))
        issue = f"issue-{i}"
        g.blow_whistle(code, grid_worker="w", issue_id=issue, category="noise",
                       description="d", departments=depts, urgency=rnd.choice(["normal", "urgent"]),
                       source="resident", grid=None, building=None, unit=None, at=blown)
        for dep in depts:
            if rnd.random() < 0.8:
                g.report_in(code, issue, department=dep, officer="o",
                            at=blown + timedelta(minutes=rnd.randrange(3000)))
        for _ in range(rnd.randint(0, 2)):
            if g.compound(code).issue(issue)["status"] == "open" and rnd.random() < 0.7:
                g.resolve(code, issue, department=depts[0], how="h", at=blown + timedelta(days=2))
                g.rate(code, issue, rating=rnd.choice(["satisfied", "basically_satisfied",
                                                       "unsatisfied"]),
                       comment=None, rated_by="w", at=blown + timedelta(days=3))
        clock.now = blown + timedelta(days=rnd.choice([0, 1, 9]))
        g.escalate_due(code, issue)
    follower.catch_up()
    view, db = DashboardView(), services.db
    t = view.names(db, "")
    with db.transaction(commit=False) as cur:
        cur.execute(f"SELECT * FROM {t['rollup']} ORDER BY dim, grain, period, key")
        incremental = [r for r in cur.fetchall() if any(r[4:])]
        cur.execute(f"SELECT * FROM {t['report_minutes']} ORDER BY dim, grain, period, key")
        incremental_cdf = [tuple(r) for r in cur.fetchall()]
        cur.execute(f"SELECT SUM(reopened), SUM(escalated), SUM(1 - open), "
                    f"SUM(CASE WHEN reported_at IS NULL THEN 1 ELSE 0 END) FROM {t['summonses']}")
        assert all(n > 0 for n in cur.fetchone())  # the story reached every kind of event
    rebuild(services.log, view, "chk_")
    with db.transaction() as cur:
        view.rebuild_rollups(db, cur, "chk_")
    c = view.names(db, "chk_")
    with db.transaction(commit=False) as cur:
        cur.execute(f"SELECT * FROM {c['rollup']} ORDER BY dim, grain, period, key")
        assert [r for r in cur.fetchall() if any(r[4:])] == incremental
        cur.execute(f"SELECT * FROM {c['report_minutes']} ORDER BY dim, grain, period, key")
        assert [tuple(r) for r in cur.fetchall()] == incremental_cdf
    # In batches of 7 most issues change again after the batch that blew
    # them, so their old contribution is taken back as the new one goes in.
    with db.transaction() as cur:
        view.create_tables(db, cur, "inc_")
    feed(services.log, view, "inc_", batch_size=7)
    assert stored_rollups(services, view, "inc_") == stored_rollups(services, view, "chk_")
    drop(services.log, view, "inc_")
    with db.transaction(commit=False) as cur:
        cur.execute(f"SELECT {', '.join(SUMMONS_COLUMNS)} FROM {t['summonses']}")
        rows = [dict(zip(SUMMONS_COLUMNS, r)) for r in cur.fetchall()]
    now = start + timedelta(days=40)
    # Both ways to the medians: the histograms', and every row's sorted.
    for rows_a_key in (0, 10 ** 9):
        monkeypatch.setattr(dashboard_percentiles, "ROWS_A_KEY", rows_a_key)
        for by in ("department", "street", "community", "compound"):
            for f, to in [("2026-01-30T00:00:00+08:00", "2026-04-30T00:00:00+08:00"),
                          ("2026-02-03T05:17:00+00:00", "2026-03-09T13:00:00+08:00"),
                          # whole months: running totals through April minus through January
                          ("2026-02-01T00:00:00+08:00", "2026-05-01T00:00:00+08:00"),
                          # months less the days left out, at one end or both
                          ("2026-02-03T00:00:00+08:00", "2026-02-27T00:00:00+08:00"),
                          ("2026-01-31T00:00:00+08:00", "2026-04-29T08:00:00+08:00"),
                          # 旬 and days at both ends
                          ("2026-02-12T00:00:00+08:00", "2026-03-23T06:00:00+08:00"),
                          ("2025-12-31T00:00:00+08:00", "2027-01-01T00:00:00+08:00")]:
                f_, to_ = datetime.fromisoformat(f), datetime.fromisoformat(to)
                live = query(services.log, "", f_, to_, by, now)[0]
                assert live == query(services.log, "chk_", f_, to_, by, now)[0]
                assert [r for r in live if r["issues"]] == brute_force(rows, by, f_, to_, now)
    # Mid-rebuild the rollups are stale and the query reads every row instead.
    with db.transaction() as cur:
        view.begin_rebuild(db, cur, "chk_")
        for base in ("rollup", "report_minutes"):
            cur.execute(f"DELETE FROM {c[base]}")
    deferred = {name for name, _ in view._indexes("chk_")}
    assert not deferred & index_names(services)
    assert "chk_rw_dashboard_summonses_issue" in index_names(services)
    for by in ("department", "street", "community", "compound"):
        f_, to_ = datetime(2026, 1, 30, tzinfo=timezone.utc), datetime(2026, 5, 1, tzinfo=LOCAL_TZ)
        assert query(services.log, "chk_", f_, to_, by, now) == query(services.log, "", f_, to_, by, now)
    # Settling builds the dropped indexes and the rollups again.
    with db.transaction() as cur:
        view.settle(db, cur, "chk_")
    assert stored_rollups(services, view, "chk_") == stored_rollups(services, view, "")
    assert query(services.log, "chk_", f_, to_, by, now) == query(services.log, "", f_, to_, by, now)
    assert deferred <= index_names(services)
    drop(services.log, view, "chk_")


def index_names(services) -> set[str]:
    db = services.db
    with db.transaction(commit=False) as cur:
        if db.is_postgres:
            cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = ?", (db.schema,))
        else:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {r[0] for r in cur.fetchall()}


def stored_rollups(services, view: DashboardView, prefix: str) -> list[list[tuple]]:
    t, db = view.names(services.db, prefix), services.db
    with db.transaction(commit=False) as cur:
        cur.execute(f"SELECT * FROM {t['rollup']} ORDER BY dim, grain, period, key")
        out = [[r for r in cur.fetchall() if any(r[4:])]]
        # Packed histograms, as bytes (dashboard_cdf.encode)
        cur.execute(f"SELECT * FROM {t['report_minutes']} ORDER BY dim, grain, period, key")
        out.append([tuple(r) for r in cur.fetchall()])
    return out


def brute_force(rows: list[dict], by: str, f: datetime, to: datetime, now: datetime) -> list:
    """The definitions of docs/dashboard.md applied to the rows one by one,
    with none of the rollups, histograms or indexes."""
    us = lambda d: to_us(d)  # noqa: E731
    chosen = [r for r in rows if us(f) <= r["blown"] < us(to)]
    out = []
    for key in sorted({r[by] for r in chosen}):
        mine = [r for r in chosen if r[by] == key]
        issues = mine if by == "department" else [r for r in mine if r["lead"]]
        late = [r for r in mine if (r["open"] and r["resolve_due"] <= us(now))
                or (r["reported_at"] is None and r["report_due"] <= us(now))]
        minutes = sorted(r["minutes"] for r in mine if r["reported_at"] is not None)
        n = {"summonses": len(mine), "in_time": sum(r["in_time"] for r in mine),
             "issues": len(issues), "resolved": sum(1 - r["open"] for r in issues),
             "rated": sum(r["rated"] for r in issues),
             "satisfied": sum(r["satisfied"] for r in issues),
             "first": sum(r["first_satisfied"] for r in issues)}
        rate = lambda a, b: a / b if b else None  # noqa: E731
        rates = [rate(n["in_time"], n["summonses"]), rate(n["resolved"], n["issues"]),
                 rate(n["satisfied"], n["rated"])]
        out.append(dict(
            key=key, summonses=n["summonses"], reported=len(minutes),
            reported_in_time=n["in_time"], response_rate=rates[0],
            median_minutes_to_report=statistics.median(minutes) if minutes else None,
            p90_minutes_to_report=minutes[math.ceil(0.9 * len(minutes)) - 1] if minutes else None,
            issues=n["issues"], resolved=n["resolved"], resolution_rate=rates[1],
            rated=n["rated"], satisfied=n["satisfied"], satisfaction_rate=rates[2],
            first_satisfied=n["first"], first_contact_satisfaction_rate=rate(n["first"], n["rated"]),
            open=sum(r["open"] for r in issues),
            overdue=len(late) if by == "department" else len({r["issue_id"] for r in late}),
            escalated=sum(r["escalated"] if by == "department" else r["issue_escalated"]
                          for r in issues),
            three_rates_score=None if None in rates else
            100 * (30 * rates[0] + 35 * rates[1] + 35 * rates[2]) / 100))
    return out
