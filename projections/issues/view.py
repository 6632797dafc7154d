"""The work queues (issue 14): one row per issue and one per summons (issue ×
department), with what a list row needs, plus the compounds, companies and
joint meetings to list them. Lists read these tables only, never aggregates;
so does Open311 (api/routers/open311.py: an issue's departments, as the
aggregate has them now, its status notes and media link, and a compound's
location are kept for it).

Moments are the fixed-width UTC text of projections/moments.py, so ordering
and comparing them as strings in SQL is ordering them in time. A summons'
`due_at` is the deadline it now awaits: its report-in while not reported,
then its resolution (an approved extension moves it); NO_DUE when it awaits
nothing (resolved, ended, the issue a duplicate), which sorts after every
real deadline and is never overdue. An issue's `due_at` is the soonest of
its summonses'.

Each batch loads the rows of the issues it touches, applies the events in
order in memory and writes every touched row back once: rows new in the
batch inserted, the others upserted, a stored issue's summonses only when
its events changed them. A rebuild keeps the rows of the issues it touched
last in memory, and loads only the others (kept.py).

One module, though over 400 lines: the columns, the fold that fills them
and the writing of the rows change together.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from operator import itemgetter
from typing import Any
from uuid import UUID

from domain.company import PropertyCompany
from domain.compound import Compound
from projections.feed import Batch, View, tracked_position
from projections.bulk import index_name, insert_rows, upsert, where_in
from projections.moments import moment
from projections.codes import CODES, remember
from projections.issues.kept import Kept
from projections.issues.text import TEXT_INDEX, tripled_sql, trigram_ops
from projections.versions import keep_version
from adapters.db import Cursor, Database

# 2: what Open311 reads (an issue's departments, status notes and media, a
# compound's location), which had a view of its own; the tables before were
# unnumbered.
VERSION = 2

NO_DUE = "9999-12-31T00:00:00.000000+00:00"

AWAITING = ("awaiting_report", "awaiting_resolution")
# Issues whose rows a rebuild keeps in memory between batches (kept.py): some
# twelve batches' whistles, about 60 MB.
KEPT_ISSUES = 20_000
# The conditions of the partial indexes, written into the queries as they are
# here: a planner proves an index's predicate from literals, not parameters.
AWAITED = f"due_at < '{NO_DUE}'"  # a summons awaiting a report-in or resolution
AWAITING_DECISION = "pending_decisions > 0"  # a decline or extension to decide

ISSUE_COLUMNS = ("compound", "issue_id", "name", "district", "street", "community", "grid",
                 "category", "source", "urgency", "status", "description", "grid_worker",
                 "blown_at", "updated_at", "report_due_at", "resolve_due_at", "due_at",
                 "level", "escalated", "reopened", "duplicate_of", "pending_decisions",
                 "departments", "status_notes", "media_url")
SUMMONS_COLUMNS = ("compound", "issue_id", "department", "state", "summoned_at",
                   "report_due_at", "resolve_due_at", "reported_at", "due_at", "decline",
                   "decline_reason", "extension", "extension_until", "reopened", "blown_at")
COMPOUND_COLUMNS = ("code", "id", "name", "district", "street", "community", "grids",
                    "households", "kind", "management_mode", "registered_at", "company_code",
                    "company_name", "latitude", "longitude", "address", "zipcode")
COMPANY_COLUMNS = ("code", "id", "name", "party_organisation", "registered_at")
MEETING_COLUMNS = ("compound", "meeting_id", "held_on", "recorded_at", "attendees",
                   "issues_discussed", "decisions")

_FOLDED = frozenset({
    Compound.Registered, Compound.Located, Compound.PropertyCompanyContracted,
    Compound.WhistleBlown, Compound.DepartmentReported, Compound.ProgressNoted,
    Compound.IssueResolved, Compound.ResidentRated, Compound.IssueReopened,
    Compound.IssueEscalated, Compound.JointMeetingHeld, Compound.SummonsDeclined,
    Compound.DeclineAccepted, Compound.DeclineRejected, Compound.DepartmentSummoned,
    Compound.ExtensionRequested, Compound.ExtensionApproved, Compound.ExtensionRefused,
    Compound.IssueClosedAsDuplicate,
    PropertyCompany.Registered, PropertyCompany.PartyOrganisationEstablished})


_OF_COMPOUND = frozenset(k for k in _FOLDED if issubclass(k, Compound.Event))
_OF_ISSUE = _OF_COMPOUND - {Compound.Registered, Compound.Located,
                            Compound.PropertyCompanyContracted, Compound.JointMeetingHeld}
# The events whose moment is stored as such (blown, reported, summoned ...).
_STAMPED = frozenset({Compound.Registered, Compound.JointMeetingHeld, Compound.WhistleBlown,
                      Compound.DepartmentReported, Compound.DepartmentSummoned,
                      PropertyCompany.Registered})
# The issue events that change no summons (only the issue's row).
_ISSUE_ONLY = frozenset({Compound.ProgressNoted, Compound.ResidentRated, Compound.IssueEscalated})


class IssuesView(View):
    name = "issues"
    cost = 1.0
    rewritten = ("issues", "summonses")
    tables = ("version", "compounds", "issues", "summonses", "companies", "meetings",
              "unindexed")
    _kept: Kept | None = None  # while rebuilt in this process

    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        keep_version(db, cur, prefix, self, VERSION)
        t = {b: self.table(db, prefix, b) for b in self.tables}
        ix = lambda base, n: index_name(prefix, self.name, base, n)  # noqa: E731
        text = lambda cols: ", ".join(f"{c} TEXT" for c in cols)  # noqa: E731
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['compounds']} (code TEXT PRIMARY KEY, "
                    "id TEXT NOT NULL, name TEXT NOT NULL, district TEXT NOT NULL, "
                    "street TEXT NOT NULL, community TEXT NOT NULL, grids TEXT NOT NULL, "
                    "households INTEGER NOT NULL, kind TEXT NOT NULL, "
                    "management_mode TEXT NOT NULL, registered_at TEXT NOT NULL, "
                    "company_code TEXT, company_name TEXT, latitude DOUBLE PRECISION, "
                    "longitude DOUBLE PRECISION, address TEXT, zipcode TEXT)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('compounds', 'id')} "
                    f"ON {t['compounds']} (id)")  # loading the codes events name
        # Open311's POST by lat/long (api/routers/open311.py); compounds are
        # few and rarely written, so it is kept as they are.
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('compounds', 'latitude')} "
                    f"ON {t['compounds']} (latitude)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['issues']} ("
                    f"{text(ISSUE_COLUMNS[:18])}, level TEXT, escalated INTEGER NOT NULL, "
                    "reopened INTEGER NOT NULL, duplicate_of TEXT, "
                    "pending_decisions INTEGER NOT NULL, departments TEXT NOT NULL, "
                    "status_notes TEXT, media_url TEXT, PRIMARY KEY (compound, issue_id))")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('issues', 'issue_id')} "
                    f"ON {t['issues']} (issue_id)")  # loading the rows events change
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['summonses']} ({text(SUMMONS_COLUMNS[:13])}, "
                    "reopened INTEGER NOT NULL, blown_at TEXT NOT NULL, "
                    "PRIMARY KEY (compound, issue_id, department))")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('summonses', 'issue_id')} "
                    f"ON {t['summonses']} (issue_id)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['companies']} (code TEXT PRIMARY KEY, "
                    "id TEXT NOT NULL, name TEXT NOT NULL, party_organisation INTEGER NOT NULL, "
                    "registered_at TEXT NOT NULL)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('companies', 'id')} "
                    f"ON {t['companies']} (id)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['meetings']} (compound TEXT NOT NULL, "
                    "meeting_id TEXT NOT NULL, held_on TEXT NOT NULL, recorded_at TEXT NOT NULL, "
                    "attendees INTEGER NOT NULL, issues_discussed TEXT NOT NULL, "
                    "decisions TEXT NOT NULL, PRIMARY KEY (compound, meeting_id))")
        # A row here: the indexes only lists read are still to be built.
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['unindexed']} (id INTEGER PRIMARY KEY)")
        self._create_indexes(db, cur, prefix)

    def _indexes(self, db: Database, prefix: str) -> list[tuple[str, str, str]]:
        """(name, table, columns) of the indexes only lists read: one per sort
        and one per filter under the default sort, each ending in the
        cursor's tie-breakers, so a page is one index range."""
        t = {b: self.table(db, prefix, b) for b in self.tables}
        ix = lambda base, n: index_name(prefix, self.name, base, n)  # noqa: E731
        out = [(ix("issues", sort), t["issues"], f"({sort}, compound, issue_id)")
               for sort in ("blown_at", "updated_at", "due_at")]
        out += [(ix("issues", col), t["issues"], f"({col}, blown_at, compound, issue_id)")
                for col in ("district", "street", "community", "grid", "category", "status",
                            "source", "urgency")]
        out += [(ix("issues", "compound_blown"), t["issues"], "(compound, blown_at, issue_id)"),
                (ix("summonses", "inbox"), t["summonses"],
                 "(department, due_at, compound, issue_id)"),
                (ix("summonses", "blown"), t["summonses"],
                 "(department, blown_at, compound, issue_id)")]
        # Partial: these rows are few (issues awaiting a decision; the
        # awaited summonses among all of a department's), and finding them
        # along a full index of the sort reads most of it. The predicates are
        # the queries' own literals (projections/issues/query.py).
        out += [(ix("issues", "deciding"), t["issues"],
                 f"(blown_at, compound, issue_id) WHERE {AWAITING_DECISION}"),
                (ix("summonses", "awaited_blown"), t["summonses"],
                 f"(department, blown_at, compound, issue_id) WHERE {AWAITED}")]
        out += [(ix("compounds", col), t["compounds"], f"({col}, code)")
                for col in ("district", "street", "community")]
        return out

    def _create_indexes(self, db: Database, cur: Cursor, prefix: str) -> None:
        for name, table, columns in self._indexes(db, prefix):
            cur.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {columns}")
        ops = trigram_ops(cur) if db.is_postgres else None  # for `q`: see text.py
        if ops is not None:
            cur.execute(f"CREATE INDEX IF NOT EXISTS {self._text_index(prefix)} ON "
                        f"{self.table(db, prefix, 'issues')} USING gin "
                        f"({tripled_sql('description')} {ops})")

    def _text_index(self, prefix: str) -> str:
        return index_name(prefix, self.name, "issues", TEXT_INDEX)

    def begin_rebuild(self, db: Database, cur: Cursor, prefix: str) -> None:
        # Keeping thirteen indexes of `issues` row by row was the most of
        # this view's rebuild; built once over the finished tables instead.
        for name in [n for n, _, _ in self._indexes(db, prefix)] + [self._text_index(prefix)]:
            cur.execute(f"DROP INDEX IF EXISTS {db.table(name)}")
        cur.execute(f"INSERT INTO {self.table(db, prefix, 'unindexed')} (id) VALUES (1)")
        self._kept = Kept(KEPT_ISSUES)

    def settle(self, db: Database, cur: Cursor, prefix: str) -> None:
        self._kept = None
        table = self.table(db, prefix, "unindexed")
        cur.execute(f"SELECT id FROM {table}")
        if cur.fetchone() is None:
            return
        self._create_indexes(db, cur, prefix)
        cur.execute(f"DELETE FROM {table}")

    # -- feeding ------------------------------------------------------------
    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        kept = self._kept
        if kept is not None:
            kept.as_of(tracked_position(db, cur, prefix + self.name))
        events = [e for _, e in batch if type(e) in _FOLDED]
        touched = {}
        if events:
            t = {b: self.table(db, prefix, b) for b in self.tables}
            state = _State(db, cur, t, kept)
            try:
                state.load(events)
                for code, e in state.coded:
                    state.fold(code, e)
                state.write()
            except BaseException:
                if kept is not None:
                    kept.forget()  # (rows folded halfway, or never written)
                raise
            touched = {k: (state.issues[k], state.summonses.get(k, {})) for k in state.touched}
        if kept is not None:
            kept.keep(touched, batch[-1][0])  # the position the batch commits


def _summons(code: str, issue_id: str, department: str, at: str, report_due: str,
             resolve_due: str, reopened: int, blown_at: str) -> dict[str, Any]:
    return dict(compound=code, issue_id=issue_id, department=department,
                state="awaiting_report", summoned_at=at, report_due_at=report_due,
                resolve_due_at=resolve_due, reported_at=None, due_at=report_due, decline=None,
                decline_reason=None, extension=None, extension_until=None, reopened=reopened,
                blown_at=blown_at)


def _located(location: dict[str, Any]) -> dict[str, Any]:
    return {k: location.get(k) for k in ("latitude", "longitude", "address", "zipcode")}


class _State:
    """The rows one batch touches, keyed as in their tables."""

    def __init__(self, db: Database, cur: Cursor, t: dict[str, str],
                 kept: Kept | None = None) -> None:
        self.db, self.cur, self.t, self.kept = db, cur, t, kept
        self.compounds: dict[str, dict[str, Any]] = {}
        self.issues: dict[tuple[str, str], dict[str, Any]] = {}
        self.summonses: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.companies: dict[str, dict[str, Any]] = {}  # by originator id
        self.meetings: list[dict[str, Any]] = []
        self.touched: set[tuple[str, str]] = set()
        self.new: set[tuple[str, str]] = set()  # issues blown in the batch
        self.summoned: set[tuple[str, str]] = set()  # stored issues whose summonses change
        self.latest: dict[tuple[str, str], Any] = {}  # each touched issue's latest event time
        self.coded: list[tuple[str | None, Any]] = []  # (compound code, event)
        self.changed: set[str] = set()  # compound codes to write back

    def _select(self, table: str, columns: Iterable[str], column: str,
                values: list[str]) -> list[dict[str, Any]]:
        columns = list(columns)
        out = []
        for where, params in where_in(self.db, column, values):
            self.cur.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where}", params)
            out.extend(dict(zip(columns, r)) for r in self.cur.fetchall())
        return out

    def load(self, events: list[Any]) -> None:
        # Each event's compound code, looked up once (a UUID's hash is Python's).
        coded = [(CODES.get(e.originator_id) if type(e) in _OF_COMPOUND else None, e)
                 for e in events]
        missing = sorted({str(e.originator_id) for c, e in coded if c is None
                          and type(e) in _OF_COMPOUND and type(e) is not Compound.Registered})
        for row in self._select(self.t["compounds"], ("id", "code"), "id", missing):
            remember(UUID(row["id"]), row["code"])
        for e in events:  # (compounds registered in the batch name its issues)
            if type(e) is Compound.Registered:
                remember(e.originator_id, e.code)
        self.coded = coded = [(CODES.get(e.originator_id), e) if c is None
                              and type(e) in _OF_COMPOUND else (c, e) for c, e in coded]
        # Only issues blown before the batch have rows to load.
        self.new = {(c, e.issue_id) for c, e in coded if type(e) is Compound.WhistleBlown}
        keys = {(c, e.issue_id) for c, e in coded
                if type(e) in _OF_ISSUE and c is not None} - self.new
        for key, (issue, summonses) in (self.kept.take(keys) if self.kept else {}).items():
            self.issues[key], self.summonses[key] = issue, summonses
            keys.discard(key)
        codes = sorted({c for c, _ in coded if c is not None})
        for row in self._select(self.t["compounds"], COMPOUND_COLUMNS, "code", codes):
            self.compounds[row["code"]] = row
        ids = sorted({i for _, i in keys})
        for row in self._select(self.t["issues"], ISSUE_COLUMNS, "issue_id", ids):
            self.issues[(row["compound"], row["issue_id"])] = row
        for row in self._select(self.t["summonses"], SUMMONS_COLUMNS, "issue_id", ids):
            self.summonses.setdefault((row["compound"], row["issue_id"]), {})[
                row["department"]] = row
        established = sorted({str(e.originator_id) for e in events
                              if type(e) is PropertyCompany.PartyOrganisationEstablished})
        for row in self._select(self.t["companies"], COMPANY_COLUMNS, "id", established):
            self.companies[row["id"]] = row

    def fold(self, code: str | None, e: Any) -> None:
        kind = type(e)
        # (the others' moment is needed only as an issue's updated_at: see write)
        at = moment(e.at) if kind in _STAMPED else None
        if kind is PropertyCompany.Registered:
            self.companies[str(e.originator_id)] = dict(
                code=e.code, id=str(e.originator_id), name=e.name,
                party_organisation=int(bool(e.party_organisation)), registered_at=at)
            return
        if kind is PropertyCompany.PartyOrganisationEstablished:
            company = self.companies.get(str(e.originator_id))
            if company is not None:
                company["party_organisation"] = 1
            return
        if kind is Compound.Registered:
            remember(e.originator_id, e.code)
            self.compounds[e.code] = dict(
                code=e.code, id=str(e.originator_id), name=e.name, district=e.district,
                street=e.street, community=e.community, grids=json.dumps(list(e.grids)),
                households=e.households, kind=e.kind, management_mode=e.management_mode,
                registered_at=at, company_code=None, company_name=None,
                # (registrations stored before locations existed have none)
                **_located(e.__dict__.get("location") or {}))
            self.changed.add(e.code)
            return
        if code is None:
            raise KeyError(f"no compound {e.originator_id}")
        if kind is Compound.Located:
            self.compounds[code].update(_located(e.location))
            self.changed.add(code)
            return
        if kind is Compound.PropertyCompanyContracted:
            self.compounds[code].update(company_code=e.company_code, company_name=e.company_name)
            self.changed.add(code)
            return
        if kind is Compound.JointMeetingHeld:
            self.meetings.append(dict(
                compound=code, meeting_id=e.meeting_id, held_on=e.held_on, recorded_at=at,
                attendees=len(e.attendees), issues_discussed=json.dumps(list(e.issues_discussed)),
                decisions=json.dumps([dict(text=d["text"], owner=d["owner"],
                                           due_on=str(d["due_on"]),
                                           issue_id=d.get("issue_id") or None,
                                           departments=list(d.get("departments") or []))
                                      for d in e.decisions], ensure_ascii=False)))
            return
        key = (code, e.issue_id)
        if kind is Compound.WhistleBlown:
            c = self.compounds[code]
            report_due, resolve_due = moment(e.report_due_at), moment(e.resolve_due_at)
            self.issues[key] = dict(
                compound=code, issue_id=e.issue_id, name=c["name"], district=c["district"],
                street=c["street"], community=c["community"], grid=e.grid, category=e.category,
                source=e.source, urgency=e.urgency, status="open", description=e.description,
                grid_worker=e.grid_worker, blown_at=at, updated_at=at,
                report_due_at=report_due, resolve_due_at=resolve_due, due_at=NO_DUE,
                level="street", escalated=0, reopened=0, duplicate_of=None, pending_decisions=0,
                departments=",".join(e.departments), status_notes=None,
                media_url=e.__dict__.get("media_url"))  # (absent from older whistles)
            self.summonses[key] = {d: _summons(code, e.issue_id, d, at, report_due, resolve_due,
                                               0, at) for d in e.departments}
        else:
            self._follow_up(kind, e, key, at)
            if kind not in _ISSUE_ONLY:
                self.summoned.add(key)
        latest = self.latest.get(key)
        if latest is None or e.at > latest:
            self.latest[key] = e.at
        self.touched.add(key)

    def _follow_up(self, kind: type, e: Any, key: tuple[str, str], at: str | None) -> None:
        issue, summonses = self.issues[key], self.summonses.setdefault(key, {})
        s = summonses.get(getattr(e, "department", None) or "")
        if kind is Compound.DepartmentReported and s is not None:
            s["reported_at"] = at
            if s["state"] == "awaiting_report":
                s["state"] = "awaiting_resolution"
        elif kind is Compound.ProgressNoted:
            issue["status_notes"] = e.note
        elif kind is Compound.IssueResolved:
            issue["status"], issue["status_notes"] = "resolved", e.how
            for s in summonses.values():
                if s["state"] in AWAITING:
                    s["state"] = "resolved"
        elif kind is Compound.IssueReopened:
            issue["status"], issue["status_notes"] = "open", f"reopened: {e.reason}"
            issue["reopened"] += 1
            issue["resolve_due_at"] = moment(e.resolve_due_at)
            for s in summonses.values():
                if s["state"] == "resolved":
                    s["state"] = "awaiting_resolution" if s["reported_at"] else "awaiting_report"
                if s["state"] != "ended":
                    s["resolve_due_at"] = issue["resolve_due_at"]
                    s["reopened"] = issue["reopened"]
                    s["extension"] = s["extension_until"] = None
        elif kind is Compound.IssueEscalated:
            issue["level"] = e.to_level
            issue["escalated"] = 1
        elif kind is Compound.SummonsDeclined and s is not None:
            s["decline"], s["decline_reason"] = "pending", e.reason
        elif kind is Compound.DeclineAccepted and s is not None:
            s["decline"], s["state"] = "accepted", "ended"
            issue["departments"] = ",".join(
                d for d in issue["departments"].split(",") if d != e.department)
        elif kind is Compound.DeclineRejected and s is not None:
            s["decline"] = "rejected"
        elif kind is Compound.DepartmentSummoned:
            if e.replaces and e.replaces in summonses:
                ended = summonses[e.replaces]
                ended["state"] = "ended"
                if ended["decline"] == "pending":
                    ended["decline"] = "accepted"
            # in the aggregate's order: the whistle's, then those summoned since
            kept = [d for d in issue["departments"].split(",") if d and d != e.replaces]
            issue["departments"] = ",".join([*kept, e.department])
            summonses[e.department] = _summons(
                key[0], key[1], e.department, at, moment(e.report_due_at),
                moment(e.resolve_due_at), issue["reopened"], issue["blown_at"])
        elif kind is Compound.ExtensionRequested and s is not None:
            s["extension"], s["extension_until"] = "pending", moment(e.until)
        elif kind is Compound.ExtensionApproved and s is not None:
            s["extension"], s["extension_until"] = "approved", moment(e.until)
            s["resolve_due_at"] = moment(e.until)
        elif kind is Compound.ExtensionRefused and s is not None:
            s["extension"] = "refused"
        elif kind is Compound.IssueClosedAsDuplicate:
            issue["status"], issue["duplicate_of"] = "duplicate", e.duplicate_of
            issue["status_notes"] = f"duplicate of {e.duplicate_of}" + (
                f": {e.reason}" if e.reason else "")
            for s in summonses.values():
                if s["state"] in AWAITING:
                    s["state"] = "closed"

    def write(self) -> None:
        for key in self.touched:
            issue, summonses = self.issues[key], self.summonses.get(key, {})
            issue["updated_at"] = max(issue["updated_at"], moment(self.latest[key]))
            for s in summonses.values():
                s["due_at"] = (s["report_due_at"] if s["state"] == "awaiting_report" else
                               s["resolve_due_at"] if s["state"] == "awaiting_resolution"
                               else NO_DUE)
            issue["due_at"] = min((s["due_at"] for s in summonses.values()), default=NO_DUE)
            issue["pending_decisions"] = sum(
                (s["decline"] == "pending") + (s["extension"] == "pending")
                for s in summonses.values())
        db, cur, t = self.db, self.cur, self.t
        rows = lambda items, cols: list(map(itemgetter(*cols), items))  # noqa: E731
        upsert(db, cur, t["compounds"], COMPOUND_COLUMNS, ("code",),
               rows((self.compounds[c] for c in sorted(self.changed)), COMPOUND_COLUMNS))
        upsert(db, cur, t["companies"], COMPANY_COLUMNS, ("code",),
               rows(self.companies.values(), COMPANY_COLUMNS))
        upsert(db, cur, t["meetings"], MEETING_COLUMNS, ("compound", "meeting_id"),
               rows(self.meetings, MEETING_COLUMNS))
        # Rows of issues blown in the batch are new: inserted (COPY on
        # PostgreSQL), which costs a fraction of an upsert.
        # A stored issue's summonses are written only if its events changed them.
        for keys, write, summoned in ((sorted(self.touched & self.new), insert_rows, self.new),
                                      (sorted(self.touched - self.new), _upsert, self.summoned)):
            write(db, cur, t["issues"], ISSUE_COLUMNS,
                  rows((self.issues[k] for k in keys), ISSUE_COLUMNS))
            write(db, cur, t["summonses"], SUMMONS_COLUMNS,
                  rows((s for k in keys if k in summoned
                        for s in self.summonses.get(k, {}).values()), SUMMONS_COLUMNS))


_KEYS = {ISSUE_COLUMNS: ("compound", "issue_id"),
         SUMMONS_COLUMNS: ("compound", "issue_id", "department")}


def _upsert(db: Database, cur: Cursor, table: str, columns: tuple[str, ...],
            rows: list[tuple]) -> None:
    upsert(db, cur, table, columns, _KEYS[columns], rows)
