"""What Open311 GeoReport v2 reads (docs/open311.md): one row per issue with
what a service request shows, and one row per compound with where it is.

Small and self-contained: `GET requests` filters by time, category and status
here instead of loading compounds, and a POST by lat/long or address finds its
compound here. The request's compound code, category and times are kept as
the events give them; the Open311 names are the router's business.
"""
from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.compound import Compound
from projections.feed import Batch, View
from projections.bulk import index_name, insert_rows, upsert, where_in
from projections.moments import moment
from adapters.db import Cursor, Database

REQUEST_COLUMNS = ("compound_id", "issue_id", "compound", "category", "description",
                   "departments", "status", "status_notes", "requested_at", "updated_at",
                   "report_due_at", "expected_at", "media_url")
COMPOUND_COLUMNS = ("id", "code", "name", "street", "latitude", "longitude", "address",
                    "zipcode")

_FOLDED = frozenset({
    Compound.Registered, Compound.Located, Compound.WhistleBlown, Compound.DepartmentReported,
    Compound.ProgressNoted, Compound.IssueResolved, Compound.IssueReopened,
    Compound.IssueEscalated, Compound.ResidentRated})


class Open311View(View):
    name = "open311"
    cost = 0.45
    tables = ("requests", "compounds")

    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        t = {b: self.table(db, prefix, b) for b in self.tables}
        ix = lambda base, n: index_name(prefix, self.name, base, n)  # noqa: E731
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['requests']} (compound_id TEXT NOT NULL, "
                    "issue_id TEXT NOT NULL, compound TEXT NOT NULL, category TEXT NOT NULL, "
                    "description TEXT NOT NULL, departments TEXT NOT NULL, status TEXT NOT NULL, "
                    "status_notes TEXT, requested_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
                    "report_due_at TEXT NOT NULL, expected_at TEXT NOT NULL, media_url TEXT, "
                    "PRIMARY KEY (issue_id, compound_id))")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('requests', 'time')} "
                    f"ON {t['requests']} (requested_at)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['compounds']} (id TEXT PRIMARY KEY, "
                    "code TEXT NOT NULL, name TEXT NOT NULL, street TEXT NOT NULL, "
                    "latitude DOUBLE PRECISION, longitude DOUBLE PRECISION, address TEXT, "
                    "zipcode TEXT)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('compounds', 'code')} "
                    f"ON {t['compounds']} (code)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('compounds', 'lat')} "
                    f"ON {t['compounds']} (latitude)")

    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        events = [e for _, e in batch if type(e) in _FOLDED]
        if not events:
            return
        t = {b: self.table(db, prefix, b) for b in self.tables}
        # Compounds by `UUID.int`: a `UUID`'s hash, equality and text are
        # Python calls, its number is not.
        compounds: dict[int, list[Any]] = {}  # stored or new rows touched by the batch
        # Issue ids are a compound's own: two compounds may (rarely) share one.
        requests: dict[tuple[int, str], list[Any]] = {}
        self._load(db, cur, t, events, compounds, requests)
        new_compounds = {e.originator_id.int for e in events if type(e) is Compound.Registered}
        new_requests = {(e.originator_id.int, e.issue_id) for e in events
                        if type(e) is Compound.WhistleBlown}
        for e in events:
            kind, at, of = type(e), getattr(e, "at", None), e.originator_id.int
            if kind is Compound.Registered:
                where = e.__dict__.get("location") or {}
                compounds[of] = [str(e.originator_id), e.code, e.name, e.street,
                                 where.get("latitude"), where.get("longitude"),
                                 where.get("address"), where.get("zipcode")]
                continue
            if kind is Compound.Located:
                row = _compound(compounds, e)
                row[4:8] = [e.location.get(k) for k in ("latitude", "longitude", "address",
                                                        "zipcode")]
                continue
            if kind is Compound.WhistleBlown:
                compound = _compound(compounds, e)
                requests[(of, e.issue_id)] = [
                    compound[0], e.issue_id, compound[1],
                    e.category, e.description, ",".join(e.departments), "open", None,
                    moment(at), moment(at), moment(e.report_due_at), moment(e.resolve_due_at),
                    e.__dict__.get("media_url")]
                continue
            row = requests.get((of, e.issue_id))
            if row is None:
                continue  # a whistle this view never saw (cannot happen in one log)
            row[9] = moment(at)
            if kind is Compound.ProgressNoted:
                row[7] = e.note
            elif kind is Compound.IssueResolved:
                row[6], row[7] = "resolved", e.how
            elif kind is Compound.IssueReopened:
                row[6], row[7] = "open", f"reopened: {e.reason}"
                row[11] = moment(e.resolve_due_at)
        insert_rows(db, cur, t["compounds"], COMPOUND_COLUMNS,
                    [compounds[i] for i in new_compounds])
        # (compounds read for their whistles' codes are written back only if located)
        located = {e.originator_id.int for e in events if type(e) is Compound.Located}
        upsert(db, cur, t["compounds"], COMPOUND_COLUMNS, ("id",),
               [compounds[i] for i in located - new_compounds])
        insert_rows(db, cur, t["requests"], REQUEST_COLUMNS,
                    [requests[i] for i in new_requests])
        upsert(db, cur, t["requests"], REQUEST_COLUMNS, ("issue_id", "compound_id"),
               [r for i, r in requests.items() if i not in new_requests])

    def _load(self, db: Database, cur: Cursor, t: dict[str, str], events: list[Any],
              compounds: dict[int, list[Any]],
              requests: dict[tuple[int, str], list[Any]]) -> None:
        """The stored rows the batch changes or needs: compounds of its whistles
        and locations, and requests of its later issue events."""
        registered = {e.originator_id.int for e in events if type(e) is Compound.Registered}
        blown = {(e.originator_id.int, e.issue_id) for e in events
                 if type(e) is Compound.WhistleBlown}
        ids = sorted({str(UUID(int=i)) for i in
                      {e.originator_id.int for e in events
                       if type(e) in (Compound.Located, Compound.WhistleBlown)} - registered})
        for where, params in where_in(db, "id", ids):
            cur.execute(f"SELECT {', '.join(COMPOUND_COLUMNS)} FROM {t['compounds']} "
                        f"WHERE {where}", params)
            for row in cur.fetchall():
                compounds[UUID(row[0]).int] = list(row)
        later = {(e.originator_id.int, e.issue_id) for e in events
                 if hasattr(e, "issue_id") and type(e) is not Compound.WhistleBlown} - blown
        for where, params in where_in(db, "issue_id", sorted({i for _, i in later})):
            cur.execute(f"SELECT {', '.join(REQUEST_COLUMNS)} FROM {t['requests']} "
                        f"WHERE {where}", params)
            for row in cur.fetchall():
                key = (UUID(row[0]).int, row[1])
                if key in later:
                    requests[key] = list(row)


def _compound(compounds: dict[int, list[Any]], e: Any) -> list[Any]:
    """The row of the event's compound; a KeyError naming its id if none."""
    row = compounds.get(e.originator_id.int)
    if row is None:
        raise KeyError(e.originator_id)
    return row
