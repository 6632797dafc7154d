"""Annual rankings of property companies from a known history, on SQLite and
PostgreSQL: the 5:5 composite, eligibility with its reasons, every tie-break,
the gold list cut at ten, the black list and a revoked title."""
from __future__ import annotations

import csv
import io
import uuid

import pytest

from projections.feed import drop, feed, rebuild, table_rows, tracked_position
from projections.rankings.query import rankings
from projections.rankings.view import VERSION, RankingsView
from tests import story
from tests.views import rebuilt_and_fed

CST = "+08:00"


class History:
    def __init__(self, client, auth):
        self.client, self.auth = client, auth
        self.position = 0
        self.compounds = 0

    def post(self, path: str, body: dict, at: str | None = None) -> dict:
        if at:
            body = dict(body, at=at if at.endswith("Z") else at + CST)
        r = self.client.post(path, json=body, headers=self.auth["admin"])
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json().get("position") or 0)
        return r.json()

    def company(self, code: str, name: str, party: bool = True) -> None:
        self.post("/v1/companies", story.company(code, name=name, party_organisation=party))

    def compound(self, company: str | None) -> str:
        self.compounds += 1
        code = f"K-{self.compounds:02d}"
        self.post("/v1/compounds", story.compound(code), "2024-01-01T09:00:00")
        if company:
            self.contract(code, company, "2024-01-02T09:00:00")
        return code

    def contract(self, code: str, company: str, at: str) -> None:
        self.post(f"/v1/compounds/{code}/property-contracts",
                  {"company_code": company, "starts_on": at[:10], "ends_on": "2028-12-31"}, at)

    def evaluate(self, company: str, year: int, street: float, district: float) -> None:
        for level, each in (("street", street), ("district", district)):
            if each is not None:
                self.post(f"/v1/companies/{company}/evaluations",
                          dict(year=year, level=level, scores=story.scores(each)))

    def survey(self, compound: str, year: int, score: float, respondents: int = 100) -> None:
        self.post(f"/v1/compounds/{compound}/surveys",
                  dict(survey_id=str(uuid.uuid4()), year=year, surveyed_on=f"{year}-10-01",
                       respondents=respondents, score=score), f"{year}-10-01T09:00:00")

    def whistle(self, compound: str, at: str, reported: str | None) -> None:
        body = story.whistle(["fire"])
        self.post(f"/v1/compounds/{compound}/whistles", body, at)
        if reported:
            self.post(f"/v1/compounds/{compound}/issues/{body['issue_id']}/reports",
                      {"department": "fire", "officer": "Li"}, reported)

    def get(self, year: int, **params):
        return self.client.get(f"/v1/rankings/{year}", params=dict(after=self.position, **params),
                               headers=self.auth["viewer"])


@pytest.fixture
def history(client, auth) -> History:
    return History(client, auth)


# code, name, street score per dimension, district score per dimension, survey
ELIGIBLE = [
    ("PC-01", "Anhe Property", 19, 19, None),            # 95, two surveys: 89.98
    ("PC-T1", "Tiehe One", 18, 18, 92),                  # 90, survey breaks the tie...
    ("PC-T2", "Tiehe Two", 18, 18, 88),                  # ...with T1
    ("PC-T3", "Rate High", 17, 17, 90),                  # 85, 90: response rate 1.0 ...
    ("PC-T4", "Rate Low", 17, 17, 90),                   # ... beats 0.5
    ("PC-Z", "Alpha Name", 16.8, 16.8, 90),              # 84, 90, 1.0: name breaks the tie
    ("PC-A", "Beta Name", 16.8, 16.8, 90),
    ("PC-08", "Eighth Property", 16.6, 16.6, 90),        # party established mid-2025
    ("PC-09", "Ninth Property", 16.4, 16.4, 90),
    ("PC-10", "Tenth Property", 16.2, 16.2, 90),
    ("PC-11", "Eleventh Property", 16.1, 16.1, 90),      # 80.5: eligible, rank 11, not gold
]


def build(h: History) -> dict[str, str]:
    compounds = {}
    for code, name, street, district, survey in ELIGIBLE:
        h.company(code, name, party=code != "PC-08")
        compounds[code] = h.compound(code)
        h.evaluate(code, 2025, street, district)
        if survey is not None:
            h.survey(compounds[code], 2025, survey)
    h.post("/v1/companies/PC-08/party-organisation", {"established_on": "2025-06-01"})
    # PC-01 serves two compounds: surveys weighted by respondents
    # (100 x 95 + 300 x 88.3) / 400 = 89.975 -> 89.98
    second = h.compound("PC-01")
    h.survey(compounds["PC-01"], 2025, 95, respondents=100)
    h.survey(second, 2025, 88.3, respondents=300)

    # Response rates, counted for the company serving the compound when the
    # whistle was blown. KX is served by T4, then by T3.
    kx = h.compound("PC-T4")
    h.whistle(kx, "2025-03-01T09:00:00", reported="2025-03-03T09:00:00")  # late: T4
    h.contract(kx, "PC-T3", "2025-04-01T09:00:00")
    h.whistle(kx, "2025-05-01T09:00:00", reported="2025-05-01T10:00:00")  # in time: T3
    h.whistle(compounds["PC-T3"], "2025-05-02T09:00:00", reported="2025-05-02T10:00:00")
    h.whistle(compounds["PC-T4"], "2025-05-02T09:00:00", reported="2025-05-02T10:00:00")
    h.whistle(compounds["PC-T4"], "2024-06-01T09:00:00", reported=None)  # another year
    h.whistle(compounds["PC-A"], "2025-07-01T09:00:00", reported="2025-07-01T09:30:00")
    # 2024-12-31 17:00 UTC is 2025-01-01 01:00 in the district: a 2025 whistle
    h.whistle(compounds["PC-Z"], "2024-12-31T17:00:00Z", reported="2024-12-31T18:00:00Z")

    # Out of the running, each for its reason(s).
    h.company("PC-INC", "Incident Property")
    inc = h.compound("PC-INC")
    h.evaluate("PC-INC", 2025, 19.6, 19.6)
    h.survey(inc, 2025, 95)
    h.post(f"/v1/compounds/{inc}/incidents",
           dict(incident_id=str(uuid.uuid4()), kind="safety_accident", occurred_on="2025-08-08",
                description="Elevator fall"), "2025-08-08T12:00:00")
    # gold in 2024 (with PC-01), so its title is revoked in 2025
    h.evaluate("PC-INC", 2024, 19, 19)
    h.survey(inc, 2024, 93)
    h.evaluate("PC-01", 2024, 18, 18)
    h.survey(compounds["PC-01"], 2024, 91)

    h.company("PC-NOPARTY", "No Party Property", party=False)
    h.evaluate("PC-NOPARTY", 2025, 18.6, 18.6)
    h.survey(h.compound("PC-NOPARTY"), 2025, 90)

    h.company("PC-LOWSURV", "Low Survey Property")
    h.evaluate("PC-LOWSURV", 2025, 18.4, 18.4)
    h.survey(h.compound("PC-LOWSURV"), 2025, 79)

    h.company("PC-LOWSTREET", "Low Street Property")
    h.evaluate("PC-LOWSTREET", 2025, 15, 20)
    h.survey(h.compound("PC-LOWSTREET"), 2025, 90)

    h.company("PC-BLACK", "Black Property")
    h.evaluate("PC-BLACK", 2025, 11, 12)
    h.survey(h.compound("PC-BLACK"), 2025, 85)

    h.company("PC-NOEVAL", "Unevaluated Property")
    h.survey(h.compound("PC-NOEVAL"), 2025, 90)
    return compounds


def test_rankings_rank_ties_gold_black_and_revoked(history):
    h = history
    build(h)
    r = h.get(2025)
    assert r.status_code == 200, r.text
    result = r.json()
    companies = {c["code"]: c for c in result["companies"]}

    assert [(c["rank"], c["code"]) for c in result["companies"]] == [
        (1, "PC-01"), (2, "PC-T1"), (3, "PC-T2"), (4, "PC-T3"), (5, "PC-T4"), (6, "PC-Z"),
        (7, "PC-A"), (8, "PC-08"), (9, "PC-09"), (10, "PC-10"), (11, "PC-11"),
        # out of the running, by composite
        (None, "PC-INC"), (None, "PC-NOPARTY"), (None, "PC-LOWSURV"), (None, "PC-LOWSTREET"),
        (None, "PC-BLACK"), (None, "PC-NOEVAL")]
    assert [g["code"] for g in result["gold"]] == [c[0] for c in ELIGIBLE[:10]]
    assert companies["PC-11"]["eligible"] and not companies["PC-11"]["gold"]

    top = companies["PC-01"]
    assert top["street"] == dict(organisation=19, team=19, daily_management=19,
                                 service_quality=19, public_image=19, total=95)
    assert (top["street_total"], top["district_total"], top["composite"]) == (95, 95, 95)
    assert (top["survey_average"], top["surveys"], top["respondents"]) == (89.98, 2, 400)
    assert top["response_rate"] is None and top["summonses"] == 0

    # tie on composite, broken by the survey average
    assert [(companies[c]["composite"], companies[c]["survey_average"])
            for c in ("PC-T1", "PC-T2")] == [(90, 92), (90, 88)]
    # tie on composite and survey, broken by the response rate
    assert [(companies[c]["summonses"], companies[c]["reported_in_time"],
             companies[c]["response_rate"]) for c in ("PC-T3", "PC-T4")] == [
        (2, 2, 1.0), (2, 1, 0.5)]
    # tie on everything, broken by the name (Alpha before Beta, whatever the codes)
    assert [(companies[c]["composite"], companies[c]["survey_average"],
             companies[c]["response_rate"], companies[c]["name"]) for c in ("PC-Z", "PC-A")] == [
        (84, 90, 1.0, "Alpha Name"), (84, 90, 1.0, "Beta Name")]
    assert companies["PC-08"]["party_organisation"] and companies["PC-11"]["composite"] == 80.5

    reasons = {code: c["reasons"] for code, c in companies.items() if not c["eligible"]}
    assert reasons == {
        "PC-INC": ["disqualifying incident: safety accident on 2025-08-08 in compound K-14"],
        "PC-NOPARTY": ["no party organisation"],
        "PC-LOWSURV": ["survey average 79.00 below 80"],
        "PC-LOWSTREET": ["street evaluation 75.00 below 80"],
        "PC-BLACK": ["street evaluation 55.00 below 80"],
        "PC-NOEVAL": ["not evaluated by street", "not evaluated by district"],
    }
    assert companies["PC-LOWSTREET"]["composite"] == 87.5
    assert companies["PC-NOEVAL"]["composite"] is None

    assert result["black"] == [
        dict(code="PC-BLACK", name="Black Property", composite=57.5,
             reasons=["composite score 57.50 below 60"]),
        dict(code="PC-INC", name="Incident Property", composite=98,
             reasons=["disqualifying incident: safety accident on 2025-08-08 in compound K-14"]),
    ]
    assert result["revoked"] == [
        dict(code="PC-INC", name="Incident Property", gold_rank_last_year=1,
             reasons=["disqualifying incident: safety accident on 2025-08-08 in compound K-14"])]
    assert companies["PC-INC"]["revoked"] and companies["PC-INC"]["black"]


def test_rankings_of_the_year_before(history):
    h = history
    build(h)
    result = h.get(2024).json()
    assert [(g["rank"], g["code"], g["composite"]) for g in result["gold"]] == [
        (1, "PC-INC", 95), (2, "PC-01", 90)]
    assert result["revoked"] == [] and result["black"] == []
    t4 = next(c for c in result["companies"] if c["code"] == "PC-T4")
    # the 2024 whistle nobody reported counts in 2024 only
    assert (t4["summonses"], t4["reported_in_time"], t4["response_rate"]) == (1, 0, 0.0)
    assert t4["reasons"] == ["not evaluated by street", "not evaluated by district",
                             "no satisfaction survey"]
    # PC-08's party organisation was established in 2025
    assert "no party organisation" in next(
        c for c in result["companies"] if c["code"] == "PC-08")["reasons"]


def test_rankings_as_csv_and_for_every_reader(history, auth):
    h = history
    build(h)
    r = h.get(2025, format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 17
    assert list(rows[0])[:8] == ["rank", "code", "name", "eligible", "reasons", "gold", "black",
                                 "revoked"]
    first = rows[0]
    assert (first["rank"], first["code"], first["eligible"], first["gold"], first["street_team"],
            first["composite"], first["survey_average"], first["response_rate"]) == (
        "1", "PC-01", "true", "true", "19.0", "95.0", "89.98", "")
    noeval = rows[-1]
    assert (noeval["rank"], noeval["reasons"], noeval["street_total"]) == (
        "", "not evaluated by street; not evaluated by district", "")
    inc = next(row for row in rows if row["code"] == "PC-INC")
    assert (inc["black"], inc["revoked"], inc["incidents"]) == ("true", "true", "1")
    for role in ("official", "grid_worker", "auditor", "viewer", "fire"):
        r = h.client.get("/v1/rankings/2025", headers={**auth[role], "Accept": "text/csv"})
        assert r.status_code == 200 and r.text == h.get(2025, format="csv").text
    assert h.client.get("/v1/rankings/2025").status_code == 401
    assert h.client.get("/v1/rankings/1999", headers=auth["viewer"]).status_code == 422


def test_an_empty_year(client, auth):
    r = client.get("/v1/rankings/2030", headers=auth["viewer"])
    assert r.status_code == 200
    assert r.json() == dict(year=2030, companies=[], gold=[], black=[], revoked=[])


def test_scratch_build_gives_the_published_rankings(history, services):
    h = history
    build(h)
    published = h.get(2025).json()
    view = RankingsView()
    rebuild(services.log, view, prefix="scratch_")
    assert rankings(services.log, "scratch_", 2025) == published
    drop(services.log, view, "scratch_")


def test_a_view_of_an_earlier_version_is_refolded_on_start(history, services):
    """Tables of version 1 (no version, a whistle's number of departments in
    `whistles`, stale counts): dropped at start, fed again from the log."""
    h = history
    build(h)
    published = h.get(2025).json()
    view, db = RankingsView(), services.db
    rebuild(services.log, view, prefix="old_")
    with db.transaction() as cur:
        cur.execute(f"DROP TABLE {view.table(db, 'old_', 'version')}")
        cur.execute(f"UPDATE {view.table(db, 'old_', 'responses')} SET summoned = summoned + 1")
        cur.execute(f"CREATE TABLE {view.table(db, 'old_', 'whistles')} (compound TEXT)")
        view.create_tables(db, cur, "old_")
        assert tracked_position(db, cur, "old_rankings") == 0
    feed(services.log, view, "old_")
    with db.transaction() as cur:  # a second start changes nothing
        view.create_tables(db, cur, "old_")
        assert tracked_position(db, cur, "old_rankings") == h.position
    assert rankings(services.log, "old_", 2025) == published
    with db.transaction(commit=False) as cur:
        cur.execute(f"SELECT version FROM {view.table(db, 'old_', 'version')}")
        assert cur.fetchall() == [(VERSION,)]
    with pytest.raises(Exception), db.transaction(commit=False) as cur:
        cur.execute(f"SELECT * FROM {view.table(db, 'old_', 'whistles')}")
    drop(services.log, view, "old_")


def test_push_back_leaves_the_response_rate_as_it_leaves_the_dashboards(history, services):
    """Company PC-P serves K-01; four whistles of March 2025 (local times),
    normal: report-in due 24 hours after the whistle, or after a later
    summons. Each push-back fact through the API, the figures worked by hand
    before and after, and the dashboard's two counts for K-01 the same."""
    h = history
    h.company("PC-P", "Pushback Property")
    kx = h.compound("PC-P")

    def blow(departments: list[str], at: str) -> str:
        body = story.whistle(departments)
        h.post(f"/v1/compounds/{kx}/whistles", body, at)
        return body["issue_id"]

    def act(issue: str, what: str, body: dict, at: str) -> None:
        h.post(f"/v1/compounds/{kx}/issues/{issue}/{what}", body, at)

    def report(issue: str, department: str, at: str) -> None:
        act(issue, "reports", {"department": department, "officer": "Li"}, at)

    def figures() -> tuple[int, int, float | None]:
        company = next(c for c in h.get(2025).json()["companies"] if c["code"] == "PC-P")
        r = h.client.get("/v1/dashboard/response-rates",
                         params={"from": "2025-01-01", "to": "2026-01-01", "by": "compound",
                                 "after": h.position}, headers=h.auth["admin"])
        row = next(row for row in r.json()["rows"] if row["key"] == kx)
        assert (row["summonses"], row["reported_in_time"]) == (
            company["summonses"], company["reported_in_time"])
        return company["summonses"], company["reported_in_time"], company["response_rate"]

    w1 = blow(["fire", "police"], "2025-03-01T09:00:00")
    report(w1, "fire", "2025-03-01T10:00:00")               # in time
    w2 = blow(["fire"], "2025-03-05T09:00:00")
    report(w2, "fire", "2025-03-05T10:00:00")               # in time
    w3 = blow(["fire"], "2025-03-10T09:00:00")              # due 03-11 09:00
    w4 = blow(["police"], "2025-03-15T09:00:00")            # due 03-16 09:00
    # 5 summonses (w1 fire, police; w2 fire; w3 fire; w4 police), 2 in time
    assert figures() == (5, 2, 0.4)

    # 退单 awaiting the official: counts as any other. 5 and 2: 40%.
    act(w1, "declines", {"department": "police", "reason": "not ours"}, "2025-03-01T12:00:00")
    assert figures() == (5, 2, 0.4)
    # Accepted: w1's police summons leaves, as if never made. 4 and 2: 50%.
    act(w1, "decline-decisions", {"department": "police", "accept": True},
        "2025-03-01T13:00:00")
    assert figures() == (4, 2, 0.5)
    # w2 closed as a duplicate of w1: it leaves with its in-time summons.
    # 3 (w1 fire, w3 fire, w4 police) and 1 (w1 fire): 33.33%.
    act(w2, "duplicate", {"duplicate_of": w1}, "2025-03-05T12:00:00")
    assert figures() == (3, 1, 0.3333)
    # 改派: w3 goes from fire to water at 15:00; water's report-in is due
    # 03-11 15:00. Still 3 summonses (w1 fire, w3 water, w4 police), 1 in time.
    act(w3, "declines", {"department": "fire", "reason": "a burst pipe"}, "2025-03-10T14:00:00")
    act(w3, "summonses", {"department": "water", "replaces": "fire"}, "2025-03-10T15:00:00")
    assert figures() == (3, 1, 0.3333)
    # Water reports at 12:00 the next day: after the whistle's deadline
    # (09:00), within its own (15:00): in time. 3 and 2: 66.67%.
    report(w3, "water", "2025-03-11T12:00:00")
    assert figures() == (3, 2, 0.6667)
    # A rejected decline changes nothing; 追加 housing at 12:00 adds a summons
    # due 03-16 12:00. 4 (w1 fire, w3 water, w4 police, w4 housing) and 2: 50%.
    act(w4, "declines", {"department": "police", "reason": "not ours"}, "2025-03-15T10:00:00")
    act(w4, "decline-decisions", {"department": "police", "accept": False},
        "2025-03-15T11:00:00")
    act(w4, "summonses", {"department": "housing"}, "2025-03-15T12:00:00")
    assert figures() == (4, 2, 0.5)
    # Police reports late (due 03-16 09:00), housing in time (due 03-16 12:00).
    # 4 and 3: 75%.
    report(w4, "police", "2025-03-17T09:00:00")
    report(w4, "housing", "2025-03-16T11:00:00")
    assert figures() == (4, 3, 0.75)
    # Water is reassigned away after reporting, and summoned back (改派 twice):
    # its new summons is due 03-21 09:00 and unreported. 4 and 2: 50%.
    act(w3, "summonses", {"department": "sanitation", "replaces": "water"},
        "2025-03-19T09:00:00")
    act(w3, "summonses", {"department": "water", "replaces": "sanitation"},
        "2025-03-20T09:00:00")
    assert figures() == (4, 2, 0.5)
    report(w3, "water", "2025-03-20T10:00:00")  # in time again: 4 and 3, 75%
    assert figures() == (4, 3, 0.75)

    # Followed live, rebuilt in one go, and fed three events a batch: the same rows.
    view = RankingsView()
    live = table_rows(services.log, view)
    # one row a summons that counts: w1 fire, w3 water, w4 police and housing
    assert sorted((r[1] == w1, r[2], r[7] is not None) for r in live["summonses"]) == [
        (False, "housing", True), (False, "police", True), (False, "water", True),
        (True, "fire", True)]
    with rebuilt_and_fed(services.log, view) as prefixes:
        for prefix in prefixes:
            assert rankings(services.log, prefix, 2025) == rankings(services.log, "", 2025)
