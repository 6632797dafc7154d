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
from typing import Any
from uuid import UUID

from domain.company import DIMENSIONS, PropertyCompany
from domain.compound import Compound
from projections.feed import Batch, View
from projections.bulk import index_name, insert_rows, update_rows, upsert, where_in
from projections.moments import local_year, moment
from projections.codes import CODES, remember
from adapters.db import Cursor, Database

# The events a ranking is made of; any other is skipped unread.
_FOLDED = frozenset({
    Compound.Registered, Compound.WhistleBlown, Compound.DepartmentReported,
    Compound.PropertyCompanyContracted, Compound.SatisfactionSurveyed,
    Compound.IncidentRecorded, PropertyCompany.Registered,
    PropertyCompany.PartyOrganisationEstablished, PropertyCompany.Evaluated})


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
