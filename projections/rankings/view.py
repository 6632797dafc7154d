"""Annual rankings of property companies (金牌红色物业, 红黑榜).

The view keeps what a year's rankings are computed from: companies (with
their party organisation), the street and district evaluations, satisfaction
surveys and incidents with the company they were charged to, every summons of
a whistle blown in a compound with a property company (with that company, the
whistle's local year, the summons' own report-in deadline and its report-in),
and per year and company the summonses and those reported in time.
`rankings(log, prefix, year)` computes the year's table, gold list, black
list and revoked titles from these tables alone; docs/rankings.md states the
rules word for word.

The response rate is computed here from the view's own summons rows, not
taken from the dashboard's tables, so the rankings can be rebuilt and audited
alone. Which summonses count, and which are in time, is the dashboard's one
rule (its `Issue`: a declined-and-accepted or reassigned summons and a
duplicate issue leave, a later summons has deadlines of its own), so the two
never disagree; moments in `summonses` are therefore its integer
microseconds.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from domain.company import DIMENSIONS, PropertyCompany
from domain.compound import Compound
from projections.feed import Batch, View
from projections.bulk import index_name, insert_rows, update_rows, upsert, where_in
from projections.dashboard.calendar import to_us
from projections.dashboard.rows import Issue
from projections.moments import local_year
from projections.codes import CODES, remember
from projections.versions import keep_version
from adapters.db import Cursor, Database

# 2: one row per summons, the push-back facts folded (issue 14); version 1
# kept a whistle's number of departments and its report-ins apart.
VERSION = 2
_LEGACY = ("whistles", "reports")

# The events that change which summonses count, or whether in time.
_SUMMONS_EVENTS = frozenset({
    Compound.DepartmentReported, Compound.DeclineAccepted, Compound.DepartmentSummoned,
    Compound.IssueClosedAsDuplicate})
# The events a ranking is made of; any other is skipped unread.
_FOLDED = _SUMMONS_EVENTS | {
    Compound.Registered, Compound.WhistleBlown, Compound.PropertyCompanyContracted,
    Compound.SatisfactionSurveyed, Compound.IncidentRecorded, PropertyCompany.Registered,
    PropertyCompany.PartyOrganisationEstablished, PropertyCompany.Evaluated}

SUMMONS_COLUMNS = ("compound", "issue_id", "department", "company_code", "year", "blown",
                   "report_due", "reported_at")


class _Whistle:
    """A whistle of a company's compound: its year, its company, and its
    summonses as the dashboard's `Issue` keeps them."""

    def __init__(self, company: str, year: int, blown: int) -> None:
        self.company, self.year = company, year
        self.issue = Issue(dict(blown=blown))
        self.before = (0, 0)  # (summonses, in time) as stored before the batch

    def counts(self) -> tuple[int, int]:
        rows = self.issue.rows.values()
        return len(rows), sum(r["in_time"] for r in rows)

    def summoned(self, department: str, report_due: int) -> None:
        # The rankings read no resolution deadline (an extension changes nothing here).
        self.issue.summoned(department, report_due, 0)


class RankingsView(View):
    name = "rankings"
    cost = 0.35
    tables = ("version", "companies", "evaluations", "compounds", "surveys", "incidents",
              "summonses", "responses")

    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        keep_version(db, cur, prefix, self, VERSION, _LEGACY)
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
        # Only whistles of a compound with a company: the others count for no
        # company, whatever happens to them.
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['summonses']} (compound TEXT NOT NULL, "
                    "issue_id TEXT NOT NULL, department TEXT NOT NULL, "
                    "company_code TEXT NOT NULL, year INTEGER NOT NULL, blown BIGINT NOT NULL, "
                    "report_due BIGINT NOT NULL, reported_at BIGINT, "
                    "PRIMARY KEY (compound, issue_id, department))")
        # An event after the whistle finds its summonses by issue id.
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('summonses', 'issue')} "
                    f"ON {t['summonses']} (issue_id)")
        # The response rate's two counts per year and company, kept as the
        # events come: joining the year's summonses at every read cost more
        # than all the rest of the rankings together.
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['responses']} (year INTEGER NOT NULL, "
                    "company_code TEXT NOT NULL, summoned INTEGER NOT NULL, "
                    "in_time INTEGER NOT NULL, PRIMARY KEY (year, company_code))")

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

    def _stored(self, db: Database, cur: Cursor, t: dict[str, str],
                events: list[tuple[int, Any]]) -> dict[tuple[str, str], _Whistle]:
        """The whistles of earlier batches that the batch's events touch, with
        their summonses replayed through the same `Issue` verbs."""
        blown = {e.issue_id for _, e in events if type(e) is Compound.WhistleBlown}
        wanted = sorted({e.issue_id for _, e in events
                         if type(e) in _SUMMONS_EVENTS and e.issue_id not in blown})
        found: dict[tuple[str, str], _Whistle] = {}
        for where, params in where_in(db, "issue_id", wanted):
            cur.execute(f"SELECT {', '.join(SUMMONS_COLUMNS)} FROM {t['summonses']} "
                        f"WHERE {where}", params)
            for code, issue_id, department, company, year, blown_at, due, at in cur.fetchall():
                w = found.get((code, issue_id))
                if w is None:
                    w = found[(code, issue_id)] = _Whistle(company, int(year), int(blown_at))
                w.summoned(department, int(due))
                if at is not None:
                    w.issue.reported(department, int(at))
        for w in found.values():
            w.before = w.counts()
        return found

    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        # Most of the log (resolutions, ratings, progress notes, escalations,
        # meetings) ranks no company: dropped here by type, before any other work.
        events = [(pos, e) for pos, e in batch if type(e) in _FOLDED]
        if not events:
            return
        t = {b: self.table(db, prefix, b) for b in self.tables}
        serving = self._load(db, cur, t, events)
        stored = self._stored(db, cur, t, events)
        whistles = dict(stored)
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
                if kind in _SUMMONS_EVENTS:
                    w = whistles.get((code, e.issue_id))
                    if w is not None:  # else of no company, or closed as a duplicate
                        _fold(w, e)
                elif kind is Compound.WhistleBlown:
                    company = serving[e.originator_id]
                    if company is not None:
                        w = whistles[(code, e.issue_id)] = _Whistle(
                            company, local_year(e.at), to_us(e.at))
                        for department in e.departments:
                            w.summoned(department, to_us(e.report_due_at))
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
        columns = {
            "companies": ("code", "id", "name", "party_registered",
                          "party_established_on"),
            "compounds": ("id", "code", "company_code"),
            "evaluations": ("company", "year", "level", *DIMENSIONS),
            "surveys": ("compound", "survey_id", "year", "company_code", "respondents",
                        "score"),
            "incidents": ("compound", "incident_id", "kind", "occurred_on", "year",
                          "company_code"),
        }
        for base, cols in columns.items():
            insert_rows(db, cur, t[base], cols, rows[base])
        update_rows(db, cur, t["compounds"], ("id",), ("company_code",),
                    [(c, str(i)) for i, c in contracted.items()])
        update_rows(db, cur, t["companies"], ("id",), ("party_established_on",),
                    [(d, str(i)) for i, d in established.items()])
        self._save(db, cur, t, prefix, stored, whistles)

    def _save(self, db: Database, cur: Cursor, t: dict[str, str], prefix: str,
              stored: dict[tuple[str, str], _Whistle],
              whistles: dict[tuple[str, str], _Whistle]) -> None:
        """The touched whistles' summons rows, and what they change in each
        (year, company)'s counts."""
        gone = [(*k, d) for k, w in stored.items() for d in sorted(w.issue.removed)]
        if gone:
            cur.executemany(f"DELETE FROM {t['summonses']} WHERE compound = ? AND issue_id = ? "
                            "AND department = ?", gone)

        def as_rows(items):
            return [(*k, d, w.company, w.year, w.issue.head["blown"], r["report_due"],
                     r["reported_at"]) for k, w in items for d, r in w.issue.rows.items()]
        upsert(db, cur, t["summonses"], SUMMONS_COLUMNS, ("compound", "issue_id", "department"),
               as_rows(stored.items()))
        insert_rows(db, cur, t["summonses"], SUMMONS_COLUMNS,
                    as_rows((k, w) for k, w in whistles.items() if k not in stored))
        deltas: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        for w in whistles.values():
            (n0, k0), (n1, k1) = w.before, w.counts()
            deltas[(w.year, w.company)][0] += n1 - n0
            deltas[(w.year, w.company)][1] += k1 - k0
        upsert(db, cur, t["responses"], ("year", "company_code", "summoned", "in_time"),
               ("year", "company_code"),
               [(y, c, n, k) for (y, c), (n, k) in sorted(deltas.items()) if n or k],
               add=f"{prefix}rw_{self.name}_responses")
        if any(n < 0 for n, _ in deltas.values()):
            # A company left with no summons has no row, as if it never had
            # one: the same rows whether the log came in one batch or many.
            cur.execute(f"DELETE FROM {t['responses']} WHERE summoned = 0")


def _fold(w: _Whistle, e: Any) -> None:
    """A push-back fact or a report-in, as the dashboard folds it. A report-in
    of a summons that no longer counts changes nothing here."""
    if type(e) is Compound.DepartmentReported and e.department not in w.issue.rows:
        return
    w.issue.fold(e)
