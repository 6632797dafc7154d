"""Annual rankings of property companies (金牌红色物业, 红黑榜).

The view keeps what a year's rankings are computed from: companies (with
their party organisation), the street and district evaluations, satisfaction
surveys and incidents with the company they were charged to, and every
whistle with the company that served the compound when it was blown, the number
of departments it summoned, and the report-ins, and per year and company the
summonses and those reported in time. `rankings(log, prefix, year)`
computes the year's table, gold list, black list and revoked titles from
these tables alone; docs/rankings.md states the rules word for word.

The response rate is computed here from the view's own whistle and report rows, not
taken from the dashboard, so the rankings can be rebuilt and audited alone.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from math import fsum
from typing import Any
from uuid import UUID

from domain.company import DIMENSIONS, PropertyCompany
from domain.compound import Compound
from projections.feed import Batch, View
from projections.bulk import index_name, insert_rows, update_rows, upsert, where_in
from projections.moments import local_year, moment
from projections.codes import CODES, remember
from adapters.eventstore import Log
from adapters.db import Cursor, Database

PASS_MARK = 80.0  # survey average and street evaluation must reach it
BLACK_MARK = 60.0  # a composite score below it puts a company on the black list
GOLD_SIZE = 10
DISQUALIFYING = ("safety_accident", "mass_incident", "violation")

CSV_COLUMNS = (["rank", "code", "name", "eligible", "reasons", "gold", "black", "revoked"]
               + [f"street_{d}" for d in DIMENSIONS] + ["street_total"]
               + [f"district_{d}" for d in DIMENSIONS] + ["district_total"]
               + ["composite", "survey_average", "surveys", "respondents", "summonses",
                  "reported_in_time", "response_rate", "party_organisation", "incidents"])

# The events a ranking is made of; any other is skipped unread.
_FOLDED = frozenset({
    Compound.Registered, Compound.WhistleBlown, Compound.DepartmentReported,
    Compound.PropertyCompanyContracted, Compound.SatisfactionSurveyed,
    Compound.IncidentRecorded, PropertyCompany.Registered,
    PropertyCompany.PartyOrganisationEstablished, PropertyCompany.Evaluated})


def half_up(value: float, places: int) -> float:
    """Rounds half away from zero on the decimal figure (85.125 -> 85.13),
    after dropping binary floating-point noise beyond nine decimals (so that
    89.97499999999999, which is 89.975, also gives 89.98)."""
    exact = Decimal(repr(value)).quantize(Decimal("1e-9"), ROUND_HALF_UP)
    return float(exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


class RankingsView(View):
    name = "rankings"
    tables = ("companies", "evaluations", "compounds", "surveys", "incidents", "whistles",
              "reports", "responses")

    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        t = {b: self.table(db, prefix, b) for b in self.tables}
        ix = lambda base, n: index_name(prefix, self.name, base, n)  # noqa: E731
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['companies']} (code TEXT PRIMARY KEY, "
                    "id TEXT NOT NULL, name TEXT NOT NULL, party_registered INTEGER NOT NULL, "
                    "party_established_on TEXT)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('companies', 'id')} "
                    f"ON {t['companies']} (id)")
        scores = ", ".join(f"{d} DOUBLE PRECISION NOT NULL" for d in DIMENSIONS)
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['evaluations']} (company TEXT NOT NULL, "
                    f"year INTEGER NOT NULL, level TEXT NOT NULL, {scores}, "
                    "PRIMARY KEY (year, company, level))")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['compounds']} (id TEXT PRIMARY KEY, "
                    "code TEXT NOT NULL, company_code TEXT)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['surveys']} (compound TEXT NOT NULL, "
                    "survey_id TEXT NOT NULL, year INTEGER NOT NULL, company_code TEXT, "
                    "respondents INTEGER NOT NULL, score DOUBLE PRECISION NOT NULL, "
                    "PRIMARY KEY (compound, survey_id))")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('surveys', 'year')} "
                    f"ON {t['surveys']} (year, company_code)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['incidents']} (compound TEXT NOT NULL, "
                    "incident_id TEXT NOT NULL, kind TEXT NOT NULL, occurred_on TEXT NOT NULL, "
                    "year INTEGER NOT NULL, company_code TEXT, "
                    "PRIMARY KEY (compound, incident_id))")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('incidents', 'year')} "
                    f"ON {t['incidents']} (year, company_code)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['whistles']} (compound TEXT NOT NULL, "
                    "issue_id TEXT NOT NULL, company_code TEXT, year INTEGER NOT NULL, "
                    "summoned INTEGER NOT NULL, report_due_at TEXT NOT NULL, "
                    "PRIMARY KEY (compound, issue_id))")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('whistles', 'year')} "
                    f"ON {t['whistles']} (year, company_code)")
        # A report-in finds its whistle by issue id (see `_responses`).
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('whistles', 'issue')} "
                    f"ON {t['whistles']} (issue_id)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['reports']} (compound TEXT NOT NULL, "
                    "issue_id TEXT NOT NULL, department TEXT NOT NULL, at TEXT NOT NULL, "
                    "PRIMARY KEY (compound, issue_id, department))")
        # The response rate's two counts per year and company, kept as the
        # events come: joining the year's whistles to their report-ins at every
        # read cost more than all the rest of the rankings together.
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['responses']} (year INTEGER NOT NULL, "
                    "company_code TEXT NOT NULL, summoned INTEGER NOT NULL, "
                    "in_time INTEGER NOT NULL, PRIMARY KEY (year, company_code))")
        cur.execute(f"SELECT 1 FROM {t['responses']} LIMIT 1")
        if not cur.fetchall():
            # A view built before this table has whistles but no counts: they
            # are counted once from its rows. DO NOTHING, as two processes may
            # start at once and count the same rows.
            cur.execute(f"INSERT INTO {t['responses']} (year, company_code, summoned, in_time) "
                        "SELECT w.year, w.company_code, SUM(w.summoned), "
                        f"SUM((SELECT COUNT(*) FROM {t['reports']} r WHERE r.compound = "
                        "w.compound AND r.issue_id = w.issue_id AND r.at <= w.report_due_at)) "
                        f"FROM {t['whistles']} w WHERE w.company_code IS NOT NULL "
                        "GROUP BY w.year, w.company_code "
                        "ON CONFLICT (year, company_code) DO NOTHING")

    # -- feeding ------------------------------------------------------------
    def _load(self, db: Database, cur: Cursor, t: dict[str, str],
              events: list[tuple[int, Any]]) -> dict[UUID, str | None]:
        """Codes of the compounds and companies the events name, and each
        compound's current company, as stored before the batch."""
        compounds, companies, registered = set(), set(), set()
        for _, e in events:
            kind = type(e)
            if kind is Compound.Registered or kind is PropertyCompany.Registered:
                registered.add(e.originator_id)
            elif kind is Compound.WhistleBlown or (isinstance(e, Compound.Event)
                                                   and e.originator_id not in CODES):
                compounds.add(e.originator_id)  # its serving company, or its code
            elif isinstance(e, PropertyCompany.Event) and e.originator_id not in CODES:
                companies.add(e.originator_id)
        serving: dict[UUID, str | None] = {}
        for where, params in where_in(db, "id", sorted(str(i) for i in compounds - registered)):
            cur.execute(f"SELECT id, code, company_code FROM {t['compounds']} WHERE {where}",
                        params)
            for id_, code, company in cur.fetchall():
                remember(UUID(id_), code)
                serving[UUID(id_)] = company
        for where, params in where_in(db, "id", sorted(str(i) for i in companies - registered)):
            cur.execute(f"SELECT id, code FROM {t['companies']} WHERE {where}", params)
            for id_, code in cur.fetchall():
                remember(UUID(id_), code)
        return serving

    def _responses(self, db: Database, cur: Cursor, t: dict[str, str], whistles: list[tuple],
                   reports: list[tuple]) -> dict[tuple[int, str], list[int]]:
        """What the batch's whistles and report-ins add to the summonses and
        in-time report-ins of each (year, company)."""
        counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        blown: dict[tuple[str, str], tuple[str | None, int, str]] = {}
        for code, issue_id, company, year, summoned, due in whistles:
            blown[(code, issue_id)] = (company, year, due)
            if company is not None:
                counts[(year, company)][0] += summoned
        earlier = sorted({i for c, i, _, _ in reports if (c, i) not in blown})
        for where, params in where_in(db, "issue_id", earlier):
            cur.execute("SELECT compound, issue_id, company_code, year, report_due_at "
                        f"FROM {t['whistles']} WHERE {where}", params)
            blown.update({(c, i): (company, year, due)
                          for c, i, company, year, due in cur.fetchall()})
        for code, issue_id, _, at in reports:
            company, year, due = blown[(code, issue_id)]
            if company is not None and at <= due:
                counts[(year, company)][1] += 1
        return counts

    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        # Most of the log (resolutions, ratings, progress notes, escalations,
        # meetings) ranks no company: dropped here by type, before any other work.
        events = [(pos, e) for pos, e in batch if type(e) in _FOLDED]
        if not events:
            return
        t = {b: self.table(db, prefix, b) for b in self.tables}
        serving = self._load(db, cur, t, events)
        rows: dict[str, list[tuple]] = defaultdict(list)
        new_compounds: dict[UUID, list[Any]] = {}
        new_companies: dict[UUID, list[Any]] = {}
        contracted: dict[UUID, str] = {}
        established: dict[UUID, str] = {}

        for pos, e in events:
            kind = type(e)
            if isinstance(e, Compound.Event):
                if kind is Compound.Registered:
                    remember(e.originator_id, e.code)
                    serving[e.originator_id] = None
                    new_compounds[e.originator_id] = [str(e.originator_id), e.code, None]
                    continue
                code = CODES[e.originator_id]
                if kind is Compound.WhistleBlown:
                    rows["whistles"].append((code, e.issue_id, serving[e.originator_id],
                                             local_year(e.at), len(e.departments),
                                             moment(e.report_due_at)))
                elif kind is Compound.DepartmentReported:
                    rows["reports"].append((code, e.issue_id, e.department, moment(e.at)))
                elif kind is Compound.PropertyCompanyContracted:
                    serving[e.originator_id] = e.company_code
                    if e.originator_id in new_compounds:
                        new_compounds[e.originator_id][2] = e.company_code
                    else:
                        contracted[e.originator_id] = e.company_code
                elif kind is Compound.SatisfactionSurveyed:
                    rows["surveys"].append((code, e.survey_id, int(e.year), e.company_code,
                                            int(e.respondents), float(e.score)))
                elif kind is Compound.IncidentRecorded:
                    rows["incidents"].append((code, e.incident_id, e.kind, str(e.occurred_on),
                                              int(str(e.occurred_on)[:4]), e.company_code))
            elif isinstance(e, PropertyCompany.Event):
                if kind is PropertyCompany.Registered:
                    remember(e.originator_id, e.code)
                    new_companies[e.originator_id] = [e.code, str(e.originator_id), e.name,
                                                      int(bool(e.party_organisation)), None]
                    continue
                code = CODES[e.originator_id]
                if kind is PropertyCompany.PartyOrganisationEstablished:
                    if e.originator_id in new_companies:
                        new_companies[e.originator_id][4] = str(e.established_on)
                    else:
                        established[e.originator_id] = str(e.established_on)
                elif kind is PropertyCompany.Evaluated:
                    rows["evaluations"].append((code, int(e.year), e.level,
                                                *(float(e.scores[d]) for d in DIMENSIONS)))

        rows["compounds"] = [tuple(r) for r in new_compounds.values()]
        rows["companies"] = [tuple(r) for r in new_companies.values()]
        responses = self._responses(db, cur, t, rows["whistles"], rows["reports"])
        columns = {
            "companies": ("code", "id", "name", "party_registered",
                          "party_established_on"),
            "compounds": ("id", "code", "company_code"),
            "evaluations": ("company", "year", "level", *DIMENSIONS),
            "surveys": ("compound", "survey_id", "year", "company_code", "respondents",
                        "score"),
            "incidents": ("compound", "incident_id", "kind", "occurred_on", "year",
                          "company_code"),
            "whistles": ("compound", "issue_id", "company_code", "year", "summoned",
                         "report_due_at"),
            "reports": ("compound", "issue_id", "department", "at"),
        }
        for base, cols in columns.items():
            insert_rows(db, cur, t[base], cols, rows[base])
        update_rows(db, cur, t["compounds"], ("id",), ("company_code",),
                    [(c, str(i)) for i, c in contracted.items()])
        update_rows(db, cur, t["companies"], ("id",), ("party_established_on",),
                    [(d, str(i)) for i, d in established.items()])
        upsert(db, cur, t["responses"], ("year", "company_code", "summoned", "in_time"),
               ("year", "company_code"),
               [(y, c, n, k) for (y, c), (n, k) in sorted(responses.items())],
               add=f"{prefix}rw_{self.name}_responses")


# -- reading -----------------------------------------------------------------
def _tables(log: Log, prefix: str) -> dict[str, str]:
    view = RankingsView()
    return {b: view.table(log.db, prefix, b) for b in view.tables}


def _level(row: tuple | None) -> dict[str, float] | None:
    if row is None:
        return None
    scores = {d: float(v) for d, v in zip(DIMENSIONS, row)}
    return dict(scores, total=half_up(fsum(scores.values()), 2))


def _sort_key(c: dict[str, Any]) -> tuple:
    """Composite, then survey average, then response rate (each higher
    first, a missing figure last), then name, then code."""
    def desc(v: float | None) -> tuple:
        return (v is None, -(v or 0.0))
    return (*desc(c["composite"]), *desc(c["survey_average"]), *desc(c["response_rate"]),
            c["name"], c["code"])


def _year(cur: Cursor, t: dict[str, str], year: int) -> list[dict[str, Any]]:
    """Every company's figures and eligibility for `year`, ranked."""
    cur.execute(f"SELECT code, name, party_registered, party_established_on "
                f"FROM {t['companies']} ORDER BY code")
    companies = cur.fetchall()
    cur.execute(f"SELECT company, level, {', '.join(DIMENSIONS)} FROM {t['evaluations']} "
                "WHERE year = ?", (year,))
    evaluations = {(r[0], r[1]): r[2:] for r in cur.fetchall()}
    cur.execute(f"SELECT company_code, respondents, score FROM {t['surveys']} "
                "WHERE year = ? AND company_code IS NOT NULL ORDER BY compound, survey_id",
                (year,))
    surveys: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for company, respondents, score in cur.fetchall():
        surveys[company].append((int(respondents), float(score)))
    cur.execute(f"SELECT company_code, kind, occurred_on, compound, incident_id "
                f"FROM {t['incidents']} WHERE year = ? AND company_code IS NOT NULL "
                "ORDER BY occurred_on, compound, incident_id", (year,))
    incidents: dict[str, list[dict[str, str]]] = defaultdict(list)
    for company, kind, occurred_on, compound, incident_id in cur.fetchall():
        if kind in DISQUALIFYING:
            incidents[company].append(dict(kind=kind, occurred_on=occurred_on,
                                           compound_code=compound, incident_id=incident_id))
    # A whistle summons each of its departments once; a department reports in
    # once per whistle, so in-time report-ins count summonses reported in time.
    cur.execute(f"SELECT company_code, summoned, in_time FROM {t['responses']} "
                "WHERE year = ?", (year,))
    summonses = {company: (int(n), int(in_time)) for company, n, in_time in cur.fetchall()}

    end_of_year = f"{year:04d}-12-31"
    out = []
    for code, name, party_registered, party_established_on in companies:
        street = _level(evaluations.get((code, "street")))
        district = _level(evaluations.get((code, "district")))
        composite = (half_up((street["total"] + district["total"]) / 2, 2)
                     if street and district else None)
        answers = surveys.get(code, [])
        respondents = sum(n for n, _ in answers)
        survey_average = (half_up(fsum(n * s for n, s in answers) / respondents, 2)
                          if respondents else None)
        n, in_time = summonses.get(code, (0, 0))
        response_rate = half_up(in_time / n, 4) if n else None
        party = bool(party_registered) or bool(party_established_on
                                               and party_established_on <= end_of_year)
        reasons = []
        if street is None:
            reasons.append("not evaluated by street")
        elif street["total"] < PASS_MARK:
            reasons.append(f"street evaluation {street['total']:.2f} below {PASS_MARK:.0f}")
        if district is None:
            reasons.append("not evaluated by district")
        if survey_average is None:
            reasons.append("no satisfaction survey")
        elif survey_average < PASS_MARK:
            reasons.append(f"survey average {survey_average:.2f} below {PASS_MARK:.0f}")
        for i in incidents.get(code, []):
            reasons.append(_incident_reason(i))
        if not party:
            reasons.append("no party organisation")
        out.append(dict(
            rank=None, code=code, name=name, eligible=not reasons, reasons=reasons,
            gold=False, black=False, revoked=False, street=street, district=district,
            street_total=street["total"] if street else None,
            district_total=district["total"] if district else None, composite=composite,
            survey_average=survey_average, surveys=len(answers), respondents=respondents,
            summonses=n, reported_in_time=in_time, response_rate=response_rate,
            party_organisation=party, incidents=incidents.get(code, [])))
    out.sort(key=lambda c: (not c["eligible"], _sort_key(c)))
    for rank, c in enumerate((c for c in out if c["eligible"]), start=1):
        c["rank"] = rank
        c["gold"] = rank <= GOLD_SIZE
    for c in out:
        c["black"] = bool(c["incidents"]) or (c["composite"] is not None
                                              and c["composite"] < BLACK_MARK)
    return out


def _incident_reason(incident: dict[str, str]) -> str:
    return (f"disqualifying incident: {incident['kind'].replace('_', ' ')} on "
            f"{incident['occurred_on']} in compound {incident['compound_code']}")


def rankings(log: Log, prefix: str, year: int) -> dict[str, Any]:
    """The year's rankings from the rankings tables under `prefix` ("" for
    the live view): every company, the gold list, the black list and the
    titles revoked this year."""
    view = _tables(log, prefix)
    with log.db.transaction(commit=False) as cur:
        if log.db.is_postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        companies = _year(cur, view, year)
        previous = _year(cur, view, year - 1)
    gold_before = {c["code"]: c["rank"] for c in previous if c["gold"]}
    revoked = []
    for c in companies:
        if c["code"] in gold_before and c["incidents"]:
            c["revoked"] = True
            revoked.append(dict(code=c["code"], name=c["name"],
                                gold_rank_last_year=gold_before[c["code"]],
                                reasons=[_incident_reason(i) for i in c["incidents"]]))
    black = []
    for c in sorted((c for c in companies if c["black"]), key=lambda c: (c["name"], c["code"])):
        reasons = [_incident_reason(i) for i in c["incidents"]]
        if c["composite"] is not None and c["composite"] < BLACK_MARK:
            reasons.append(f"composite score {c['composite']:.2f} below {BLACK_MARK:.0f}")
        black.append(dict(code=c["code"], name=c["name"], composite=c["composite"],
                          reasons=reasons))
    gold = [dict(rank=c["rank"], code=c["code"], name=c["name"], composite=c["composite"],
                 survey_average=c["survey_average"], response_rate=c["response_rate"])
            for c in companies if c["gold"]]
    return dict(year=year, companies=companies, gold=gold, black=black, revoked=revoked)


def ranking_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per company for CSV."""
    rows = []
    for c in result["companies"]:
        row = {k: c[k] for k in ("rank", "code", "name", "street_total", "district_total",
                                 "composite", "survey_average", "surveys", "respondents",
                                 "summonses", "reported_in_time", "response_rate")}
        for flag in ("eligible", "gold", "black", "revoked", "party_organisation"):
            row[flag] = "true" if c[flag] else "false"
        row["reasons"] = "; ".join(c["reasons"])
        row["incidents"] = len(c["incidents"])
        for level in ("street", "district"):
            for d in DIMENSIONS:
                row[f"{level}_{d}"] = c[level][d] if c[level] else None
        rows.append(row)
    return rows
