"""Reading the work queues: filtered, scoped, keyset-paged lists of issues and
of a department's inbox, from the tables of projections/issues/view.py.

Paging never uses OFFSET: a page is the rows after the cursor's key
(sort value, compound, issue id), so a client walking all pages
- with `sort=blown` (the default) or `-blown` sees every issue that existed
  when it started exactly once: blown times never change;
- with `updated`, `due` (and the inbox's `due`) the sort value moves when an
  issue changes. Ascending, a change only moves a row later (an update is
  newer, a report-in or an extension moves the deadline later), so no row is
  missed but a row already seen may come again, moved: clients keep the ids
  they have seen. Descending, a row moved past the cursor is missed: walk
  ascending to be complete.
Conditions are bound parameters; the scope's conditions are added to every
query, so counts and cursors only ever see rows in scope.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from projections.bulk import where_in
from projections.issues.text import contains, indexed, tripled, tripled_sql
from projections.issues.view import AWAITED, AWAITING_DECISION, NO_DUE, IssuesView
from adapters.eventstore import Log
from projections.errors import BadFilter

ISSUE_SORTS = {"blown": "i.blown_at", "updated": "i.updated_at", "due": "i.due_at"}
INBOX_SORTS = {"due": "s.due_at", "blown": "s.blown_at"}
EQUAL_FILTERS = ("district", "street", "community", "grid", "category", "source", "urgency")
STATUSES = ("open", "resolved", "duplicate", "closed", "awaiting_decision")
MAX_LIMIT = 500


@dataclass
class Conditions:
    """SQL conditions (ANDed) with their parameters, in order."""
    sql: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, sql: str, *params: Any) -> "Conditions":
        self.sql.append(sql)
        self.params.extend(params)
        return self

    def extend(self, other: "Conditions") -> "Conditions":
        self.sql.extend(other.sql)
        self.params.extend(other.params)
        return self

    def where(self) -> str:
        return " AND ".join(self.sql) if self.sql else "1 = 1"


def tables(log: Log, prefix: str = "") -> dict[str, str]:
    view = IssuesView()
    return {b: view.table(log.db, prefix, b) for b in view.tables}


def issue_filters(t: dict[str, str], f: dict[str, Any], now: str,
                  postgres: bool) -> Conditions:
    """`f`: the query's filters, already parsed (moments as stored text)."""
    c = Conditions()
    for name in EQUAL_FILTERS:
        if f.get(name) is not None:
            c.add(f"i.{name} = ?", f[name])
    if f.get("compound") is not None:
        c.add("i.compound = ?", f["compound"])
    status = f.get("status")
    if status == "closed":
        c.add("i.status IN ('resolved', 'duplicate')")
    elif status == "awaiting_decision":
        c.add(f"i.{AWAITING_DECISION}")
    elif status is not None:
        c.add("i.status = ?", status)
    if f.get("department") is not None:
        c.add(f"EXISTS (SELECT 1 FROM {t['summonses']} d WHERE d.compound = i.compound "
              "AND d.issue_id = i.issue_id AND d.department = ?)", f["department"])
    if f.get("overdue") is True:
        c.add("i.due_at <= ?", now)
    elif f.get("overdue") is False:
        c.add("i.due_at > ?", now)
    if f.get("escalated") is not None:
        c.add("i.escalated = ?", int(f["escalated"]))
    if f.get("blown_from") is not None:
        c.add("i.blown_at >= ?", f["blown_from"])
    if f.get("blown_to") is not None:
        c.add("i.blown_at < ?", f["blown_to"])
    # Each whitespace-separated word must occur (projections/issues/text.py).
    for word in (f.get("q") or "").split():
        plain = "LOWER(i.description) LIKE ? ESCAPE '\\'"
        if not (postgres and indexed(word)):
            c.add(plain, contains(word))
            continue
        # The tripled match is the one the trigram index answers, and the one
        # the planner estimates (from that index's statistics); the plain one
        # is the same condition, cheaper to read row by row along the sort's
        # index (conditions are checked cheapest first). As a CASE the
        # planner does not multiply it into the estimate, which would make a
        # common word look rare and have its every match fetched and sorted.
        c.add(f"CASE WHEN {plain} THEN TRUE ELSE FALSE END AND "
              f"{tripled_sql('i.description')} LIKE ? ESCAPE '\\'", contains(word),
              contains(tripled(word)))
    return c


# -- cursors -----------------------------------------------------------------
def encode_cursor(kind: str, sort: str, key: tuple[str, str, str]) -> str:
    raw = json.dumps([kind, sort, *key], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, sort: str) -> tuple[str, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found = json.loads(raw)
        ok = (isinstance(found, list) and len(found) == 5
              and all(isinstance(x, str) for x in found))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise BadFilter("cursor", "not a cursor this API gave")
    if found[0] != kind or found[1] != sort:
        raise BadFilter("cursor", f"this cursor pages a {found[0]} list sorted by {found[1]}")
    return found[2], found[3], found[4]


def _page(sort: str, column: str, cursor: str | None, kind: str,
          c: Conditions) -> tuple[str, str]:
    """Adds the keyset condition; returns the ORDER BY and the key's column.
    The tie-breakers are of the table the sort column is of, so the order
    is one index's."""
    descending = sort.startswith("-")
    alias = column.split(".")[0]
    compound, issue = f"{alias}.compound", f"{alias}.issue_id"
    if cursor is not None:
        key = decode_cursor(cursor, kind, sort)
        c.add(f"({column}, {compound}, {issue}) {'<' if descending else '>'} (?, ?, ?)", *key)
    way = " DESC" if descending else ""
    return f"{column}{way}, {compound}{way}, {issue}{way}", column


ISSUE_SELECT = ("i.compound, i.issue_id, i.name, i.district, i.street, i.community, i.grid, "
                "i.category, i.source, i.urgency, i.status, i.description, i.grid_worker, "
                "i.blown_at, i.updated_at, i.report_due_at, i.resolve_due_at, i.due_at, "
                "i.level, i.escalated, i.reopened, i.duplicate_of, i.pending_decisions")
_ISSUE_KEYS = [c.split(".")[1] for c in ISSUE_SELECT.split(", ")]
SUMMONS_KEYS = ("compound", "issue_id", "department", "state", "summoned_at", "report_due_at",
                "resolve_due_at", "reported_at", "due_at", "decline", "decline_reason",
                "extension", "extension_until", "reopened")


def list_issues(log: Log, filters: dict[str, Any], scope: Conditions, sort: str,
                limit: int, cursor: str | None, now: str, prefix: str = "",
                department: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """`department`: one the rows must have summoned (a department's own
    scope, then left out of `scope`; or else the filter's). Sorted by blown
    time, the page is then read from that department's summonses (see
    `_summons_page`)."""
    t = tables(log, prefix)
    pg = log.db.is_postgres
    c = Conditions().extend(scope).extend(issue_filters(t, dict(filters, department=None), now, pg))
    column = ISSUE_SORTS[sort.lstrip("-")]
    department = department or filters.get("department")
    if department is not None and column != "i.blown_at":
        c.extend(issue_filters(t, {"department": department}, now, pg))
    with log.db.transaction(commit=False) as cur:
        if department is not None and column == "i.blown_at":
            keys, more = _summons_page(cur, t, Conditions().add("s.department = ?", department),
                                       c, sort, "s.blown_at", cursor, "issues", limit)
            items = _issues_by_key(log, cur, t, [k[:2] for k in keys])
        else:
            order, column = _page(sort, column, cursor, "issues", c)
            cur.execute(f"SELECT {ISSUE_SELECT}, {column} FROM {t['issues']} i "
                        f"WHERE {c.where()} ORDER BY {order} LIMIT ?", [*c.params, limit + 1])
            rows = cur.fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            keys = [(r[0], r[1], r[-1]) for r in rows]
            items = [dict(zip(_ISSUE_KEYS, r)) for r in rows]
        _attach_summonses(log, cur, t, items)
    next_cursor = (encode_cursor("issues", sort, (keys[-1][2], keys[-1][0], keys[-1][1]))
                   if more else None)
    return items, next_cursor


def list_inbox(log: Log, department: str, filters: dict[str, Any],
               scope: Conditions, sort: str, limit: int, cursor: str | None, now: str,
               prefix: str = "") -> tuple[list[dict[str, Any]], str | None]:
    t = tables(log, prefix)
    # Awaiting exactly when a deadline is awaited (projections/issues/view.py):
    # a range of the (department, due_at) index rather than a filter, and
    # sorted by blown time the partial index of the awaited summonses.
    pg = log.db.is_postgres
    awaited = f"s.{AWAITED}"
    if not pg and sort.lstrip("-") == "blown":
        # SQLite, which keeps no statistics of the views, took the range of
        # the due index and sorted the department's awaited summonses
        # instead. Told that the condition narrows little, it reads the
        # partial index, whose predicate it still sees through likelihood().
        awaited = f"likelihood({awaited}, 0.99)"
    own = Conditions().add("s.department = ?", department).add(awaited)
    c = Conditions().extend(scope).extend(issue_filters(t, dict(filters, department=None), now, pg))
    with log.db.transaction(commit=False) as cur:
        keys, more = _summons_page(cur, t, own, c, sort, INBOX_SORTS[sort.lstrip("-")], cursor,
                                   "inbox", limit)
        items = _issues_by_key(log, cur, t, [k[:2] for k in keys])
    for item, key in zip(items, keys):
        item["summons"] = _summons_out(dict(zip(SUMMONS_KEYS, key[3])), now)
    next_cursor = (encode_cursor("inbox", sort, (keys[-1][2], keys[-1][0], keys[-1][1]))
                   if more else None)
    return items, next_cursor


def _summons_page(cur: Any, t: dict[str, str], own: Conditions, of_issue: Conditions,
                  sort: str, column: str, cursor: str | None, kind: str,
                  limit: int) -> tuple[list[tuple], bool]:
    """A page of summonses in the order of one of their indexes, the issue's
    conditions checked per row by its primary key. Joined instead, the
    planner (which cannot tell that compound and issue id together are a
    key) hashed every summons of the department before sorting: 30-70 ms for
    20,000 issues instead of a few. Returns (compound, issue id, sort key,
    summons row) for each, and whether more follow."""
    order, column = _page(sort, column, cursor, kind, own)
    where, params = own.where(), list(own.params)
    if of_issue.sql:
        where += (f" AND EXISTS (SELECT 1 FROM {t['issues']} i WHERE i.compound = s.compound "
                  f"AND i.issue_id = s.issue_id AND {of_issue.where()})")
        params += of_issue.params
    cols = ", ".join(f"s.{k}" for k in SUMMONS_KEYS)
    cur.execute(f"SELECT {cols}, {column} FROM {t['summonses']} s WHERE {where} "
                f"ORDER BY {order} LIMIT ?", [*params, limit + 1])
    rows = cur.fetchall()
    return [(r[0], r[1], r[-1], r[:-1]) for r in rows[:limit]], len(rows) > limit


def _issues_by_key(log: Log, cur: Any, t: dict[str, str],
                   keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for where, params in where_in(log.db, "i.issue_id", sorted({k[1] for k in keys})):
        cur.execute(f"SELECT {ISSUE_SELECT} FROM {t['issues']} i WHERE {where}", params)
        for r in cur.fetchall():
            found[(r[0], r[1])] = dict(zip(_ISSUE_KEYS, r))
    return [found[k] for k in keys]


def _summons_out(s: dict[str, Any], now: str) -> dict[str, Any]:
    due = s.pop("due_at")
    s.pop("compound", None)
    s.pop("issue_id", None)
    s["awaiting_until"] = None if due == NO_DUE else due
    s["overdue"] = due != NO_DUE and due <= now
    s["reopened"] = s["reopened"] > 0
    return s


def _attach_summonses(log: Log, cur: Any, t: dict[str, str],
                      items: list[dict[str, Any]]) -> None:
    by_key = {(i["compound"], i["issue_id"]): i for i in items}
    for i in items:
        i["departments"] = []
    cols = ", ".join(SUMMONS_KEYS)
    for where, params in where_in(log.db, "issue_id", sorted({k[1] for k in by_key})):
        cur.execute(f"SELECT {cols} FROM {t['summonses']} WHERE {where} "
                    "ORDER BY summoned_at, department", params)
        for r in cur.fetchall():
            item = by_key.get((r[0], r[1]))
            if item is not None:
                item["departments"].append(dict(zip(SUMMONS_KEYS, r)))


def finish_item(item: dict[str, Any], now: str, redact: bool) -> dict[str, Any]:
    """A row as the API answers it: the awaited deadline (none when nothing is
    awaited), the overdue flag as of `now`, and no descriptions or personal
    names for a viewer."""
    due = item.pop("due_at")
    item["awaiting_until"] = None if due == NO_DUE else due
    item["overdue"] = due != NO_DUE and due <= now
    item["escalated"] = bool(item["escalated"])
    item["compound_code"] = item.pop("compound")
    item["compound_name"] = item.pop("name")
    if "departments" in item:
        item["departments"] = [_summons_out(s, now) for s in item["departments"]]
    if redact:
        item.pop("description", None)
        item.pop("grid_worker", None)
        for s in item.get("departments", []) + ([item["summons"]] if "summons" in item else []):
            s.pop("decline_reason", None)
    return item


# -- the smaller lists ---------------------------------------------------------
def list_compounds(log: Log, filters: dict[str, Any], scope: Conditions, limit: int,
                   cursor: str | None, prefix: str = "") -> tuple[list[dict], str | None]:
    t = tables(log, prefix)
    c = Conditions().extend(scope)
    for name in ("district", "street", "community"):
        if filters.get(name) is not None:
            c.add(f"i.{name} = ?", filters[name])
    for word in (filters.get("q") or "").split():
        c.add("(LOWER(i.name) LIKE ? ESCAPE '\\' OR LOWER(i.code) LIKE ? ESCAPE '\\')",
              contains(word), contains(word))
    if cursor is not None:
        c.add("i.code > ?", decode_cursor(cursor, "compounds", "code")[2])
    cols = ("code", "name", "district", "street", "community", "grids", "households", "kind",
            "management_mode", "registered_at", "company_code", "company_name")
    rows = log.db.fetchall(
        f"SELECT {', '.join('i.' + x for x in cols)} FROM {t['compounds']} i "
        f"WHERE {c.where()} ORDER BY i.code LIMIT ?", [*c.params, limit + 1])
    items = [dict(zip(cols, r), grids=json.loads(r[5])) for r in rows[:limit]]
    more = len(rows) > limit
    return items, (encode_cursor("compounds", "code", ("", "", items[-1]["code"]))
                   if more else None)


def list_companies(log: Log, limit: int, cursor: str | None,
                   prefix: str = "") -> tuple[list[dict], str | None]:
    t = tables(log, prefix)
    c = Conditions()
    if cursor is not None:
        c.add("code > ?", decode_cursor(cursor, "companies", "code")[2])
    rows = log.db.fetchall(
        f"SELECT code, name, party_organisation, registered_at FROM {t['companies']} "
        f"WHERE {c.where()} ORDER BY code LIMIT ?", [*c.params, limit + 1])
    items = [dict(code=r[0], name=r[1], party_organisation=bool(r[2]), registered_at=r[3])
             for r in rows[:limit]]
    return items, (encode_cursor("companies", "code", ("", "", items[-1]["code"]))
                   if len(rows) > limit else None)


def list_meetings(log: Log, code: str, prefix: str = "") -> list[dict[str, Any]]:
    """A compound's joint meetings, latest first, each decision with `done`:
    true when the issue it is about is resolved or closed as a duplicate,
    false while that issue is open, null for a decision about no issue (no
    fact says it was carried out)."""
    t = tables(log, prefix)
    with log.db.transaction(commit=False) as cur:
        cur.execute(f"SELECT meeting_id, held_on, recorded_at, attendees, issues_discussed, "
                    f"decisions FROM {t['meetings']} WHERE compound = ? "
                    "ORDER BY held_on DESC, meeting_id", [code])
        meetings = [dict(meeting_id=r[0], held_on=r[1], recorded_at=r[2], attendees=r[3],
                         issues_discussed=json.loads(r[4]), decisions=json.loads(r[5]))
                    for r in cur.fetchall()]
        ids = sorted({d["issue_id"] for m in meetings for d in m["decisions"] if d["issue_id"]})
        status: dict[str, str] = {}
        for where, params in where_in(log.db, "issue_id", ids):
            cur.execute(f"SELECT issue_id, status FROM {t['issues']} WHERE compound = ? "
                        f"AND {where}", [code, *params])
            status.update(dict(cur.fetchall()))
    for m in meetings:
        for d in m["decisions"]:
            s = status.get(d["issue_id"]) if d["issue_id"] else None
            d["done"] = None if s is None else s in ("resolved", "duplicate")
    return meetings
