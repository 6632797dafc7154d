"""Reading the joint-meeting agenda: `agenda_for_compound` and
`agenda_for_community` evaluate it for a meeting date from the tables of
projections/agenda/view.py alone, by the rules of docs/agenda.md. The cut-off
is 00:00 (UTC+8) of the meeting day (see view.py)."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from domain.exceptions import UnknownFact
from projections.agenda import state
from projections.agenda.view import AgendaView
from projections.bulk import where_in
from projections.moments import api_moment, day_start, moment, show_day, show_moment
from adapters.eventstore import Log
from adapters.db import Cursor, Database

RECURRING_WINDOW_DAYS = 90
RECURRING_THRESHOLD = 3
DECISION_WINDOW_DAYS = 14
GOVERNANCE_WINDOW_DAYS = 90

# Priority by kind: 1 is the most urgent.
PRIORITIES = {
    "not_reported": 1,
    "escalated": 2,
    "overdue": 3,
    "unsatisfied": 4,
    "decision_due": 5,
    "recurring": 6,
    "no_property_company": 7,
    "contract_ending": 8,
    "committee_term_ending": 9,
    "party_below_half": 10,
}

CSV_COLUMNS = ["order", "compound_code", "compound_name", "priority", "kind", "refers_to",
               "issue_id", "category", "urgency", "meeting_id", "decision", "departments",
               "due", "reason", "summonses"]


def _words(code: str) -> str:
    return code.replace("_", " ")


def _department(code: str) -> str:
    return f"the {_words(code)} department"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# -- reading -----------------------------------------------------------------
def _tables(log: Log, prefix: str) -> dict[str, str]:
    view = AgendaView()
    return {b: view.table(log.db, prefix, b) for b in view.tables}


def _as_date(meeting_on: date | str) -> date:
    return meeting_on if isinstance(meeting_on, date) else date.fromisoformat(meeting_on)


def _begin_read(log: Log, cur: Cursor) -> None:
    # One snapshot for every query of an agenda, so a batch committed by the
    # follower between two queries cannot mix two states.
    if log.db.is_postgres:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def agenda_for_compound(log: Log, prefix: str, code: str,
                        meeting_on: date | str, owners: bool = True) -> dict[str, Any]:
    """The agenda of one compound for a meeting on `meeting_on`, from the
    agenda tables under `prefix` ("" for the live view); without `owners`,
    decisions do not name the person who owns them."""
    day = _as_date(meeting_on)
    cutoff = moment(day_start(day))
    t = _tables(log, prefix)
    with log.db.transaction(commit=False) as cur:
        _begin_read(log, cur)
        cur.execute(f"SELECT code, name, street, community, registered_at FROM {t['compounds']} "
                    "WHERE code = ?", (code,))
        found = cur.fetchall()
        if not found:
            raise UnknownFact(f"compound {code} is not registered")
        _, name, street, community, registered_at = found[0]
        known = {code: name} if registered_at < cutoff else {}
        items = _evaluate(log.db, cur, t, [code], known, day, owners)
    return dict(scope="compound", compound_code=code, compound_name=name, street=street,
                community=community, meeting_on=day.isoformat(), as_of=api_moment(cutoff),
                items=items)


def agenda_for_community(log: Log, prefix: str, community: str,
                         meeting_on: date | str, owners: bool = True,
                         within: Callable[[str, str], bool] | None = None) -> dict[str, Any]:
    """The union of the agendas of a community's compounds, each item naming
    its compound, in one order; `within(code, street)` keeps the compounds a
    reader may see."""
    day = _as_date(meeting_on)
    cutoff = moment(day_start(day))
    t = _tables(log, prefix)
    with log.db.transaction(commit=False) as cur:
        _begin_read(log, cur)
        cur.execute(f"SELECT code, name, registered_at, street FROM {t['compounds']} "
                    "WHERE community = ? ORDER BY code", (community,))
        found = [row[:3] for row in cur.fetchall() if within is None or within(row[0], row[3])]
        if not found:
            raise UnknownFact(f"community {community} has no registered compound")
        compounds = {code: name for code, name, registered_at in found if registered_at < cutoff}
        items = _evaluate(log.db, cur, t, [code for code, _, _ in found], compounds, day,
                          owners)
    return dict(scope="community", community=community, compounds=sorted(compounds),
                meeting_on=day.isoformat(), as_of=api_moment(cutoff), items=items)


def agenda_rows(agenda: dict[str, Any]) -> list[dict[str, Any]]:
    """The items as flat rows for CSV."""
    return [dict(item, departments=";".join(item["departments"]),
                 issue_id=item["issue_id"] or ";".join(item.get("issue_ids") or []),
                 summonses=state.summonses_cell(item["summonses"]))
            for item in agenda["items"]]


def _rows(db: Database, cur: Cursor, sql: str, codes: list[str],
          params: tuple = ()) -> list[tuple]:
    """The rows of `sql` for the compounds `codes`; `{scope}`, the first
    condition of its WHERE, stands for `compound IN codes`."""
    # The codes go in as values, not as a subquery on the compounds table:
    # the planner then sees a handful of compounds and walks each table's
    # compound index, where over a subquery it would hash-join the whole
    # city's rows when the view is freshly built and not yet analysed.
    out: list[tuple] = []
    for where, scope in where_in(db, "compound", codes):
        cur.execute(sql.replace("{scope}", where), (*scope, *params))
        out.extend(cur.fetchall())
    return out


def _evaluate(db: Database, cur: Cursor, t: dict[str, str], codes: list[str],
              names: dict[str, str], day: date, owners: bool = True) -> list[dict[str, Any]]:
    start = day_start(day)
    cutoff = moment(start)
    window = moment(start - timedelta(days=RECURRING_WINDOW_DAYS))
    decision_horizon = (day + timedelta(days=DECISION_WINDOW_DAYS)).isoformat()
    governance_horizon = (day + timedelta(days=GOVERNANCE_WINDOW_DAYS)).isoformat()
    meeting_day = day.isoformat()

    # Issues that can give an item: blown before the cut-off and open now, or
    # changed at or after the cut-off (so perhaps open then), or recent enough
    # to count as recurring. Their exact state at the cut-off is replayed below.
    # Chosen here rather than in SQL, where an OR over a correlated EXISTS left
    # the planner free to hash every change in the city.
    timeline = sorted(_rows(db, cur, "SELECT pos, compound, issue_id, kind, at, detail "
                                     f"FROM {t['ievents']} WHERE {{scope}}", codes))
    changed = {(compound, issue_id) for _, compound, issue_id, _, at, _ in timeline
               if at >= cutoff}
    issues: dict[tuple[str, str], dict[str, Any]] = {}
    for compound, issue_id, category, description, urgency, depts, blown, report_due, \
            resolve_due, status in _rows(
                db, cur, "SELECT compound, issue_id, category, description, urgency, "
                "departments, blown_at, report_due_at, resolve_due_at, status "
                f"FROM {t['issues']} WHERE {{scope}} AND blown_at < ?", codes, (cutoff,)):
        if status != "open" and blown < window and (compound, issue_id) not in changed:
            continue
        issues[(compound, issue_id)] = dict(
            compound=compound, issue_id=issue_id, category=category, description=description,
            urgency=urgency, blown_at=blown, open=True, reopened=[], escalations=[],
            summonses=state.blown(json.loads(depts), blown, report_due, resolve_due))
    facts = [(pos, compound, issue_id, kind, at, json.loads(detail))
             for pos, compound, issue_id, kind, at, detail in timeline
             if at < cutoff and (compound, issue_id) in issues]
    facts.extend((pos, compound, issue_id, "reported", at, {"department": department})
                 for pos, compound, issue_id, department, at in _rows(
                     db, cur, f"SELECT pos, compound, issue_id, department, at FROM "
                     f"{t['reports']} WHERE {{scope}} AND at < ?", codes, (cutoff,))
                 if (compound, issue_id) in issues)
    for _, compound, issue_id, kind, at, info in sorted(facts, key=lambda f: f[0]):
        state.replay(issues[(compound, issue_id)], kind, at, info)

    items: list[dict[str, Any]] = []
    for issue in issues.values():
        if issue["open"]:
            items.extend(_issue_items(issue, cutoff))
    items.extend(_recurring(issues.values(), window))

    meetings: dict[str, list[str]] = defaultdict(list)
    for compound, held_on in _rows(
            db, cur, f"SELECT compound, held_on FROM {t['meetings']} "
            "WHERE {scope} AND held_on < ? AND recorded_at < ?", codes, (meeting_day, cutoff)):
        meetings[compound].append(held_on)
    for compound, meeting_id, seq, held_on, text, owner, due_on, issue_id, depts in _rows(
            db, cur, "SELECT compound, meeting_id, seq, held_on, decision_text, owner, due_on, "
            f"issue_id, departments FROM {t['decisions']} WHERE {{scope}} "
            "AND held_on < ? AND recorded_at < ? AND due_on <= ?", codes,
            (meeting_day, cutoff, decision_horizon)):
        if any(held_on < later and later >= due_on for later in meetings[compound]):
            continue  # followed up at a meeting held on or after its due date
        items.append(_decision_item(compound, meeting_id, seq, held_on, text,
                                    owner if owners else None, due_on,
                                    issue_id, json.loads(depts), meeting_day))

    latest_committee: dict[str, tuple] = {}
    for row in _rows(db, cur, "SELECT compound, recorded_at, pos, term_start, term_end, "
                     f"members, party_members, party_below_half FROM {t['committees']} "
                     "WHERE {scope} AND recorded_at < ?", codes, (cutoff,)):
        if row[0] not in latest_committee or row[1:3] > latest_committee[row[0]][1:3]:
            latest_committee[row[0]] = row
    for compound, _, _, term_start, term_end, members, party, below in latest_committee.values():
        items.extend(_committee_items(compound, term_start, term_end, members, party, below,
                                      meeting_day, governance_horizon))

    latest_contract: dict[str, tuple] = {}
    for row in _rows(db, cur, "SELECT compound, recorded_at, pos, company_code, company_name, "
                     f"starts_on, ends_on FROM {t['contracts']} WHERE {{scope}} "
                     "AND recorded_at < ?", codes, (cutoff,)):
        if row[0] not in latest_contract or row[1:3] > latest_contract[row[0]][1:3]:
            latest_contract[row[0]] = row
    for compound in names:
        items.extend(_contract_items(compound, latest_contract.get(compound), meeting_day,
                                     governance_horizon))

    items.sort(key=lambda i: (i["priority"], i["due"] or "", i["compound_code"],
                              i["refers_to"], ";".join(i["departments"])))
    for n, item in enumerate(items, start=1):
        item["order"] = n
        item["compound_name"] = names.get(item["compound_code"])
        if item["kind"] in ("not_reported", "escalated", "overdue", "unsatisfied", "recurring"):
            item["due"] = api_moment(item["due"])
    return [{k: item.get(k) for k in ("order", *CSV_COLUMNS[1:], "issue_ids")} for item in items]


def _item(kind: str, compound: str, refers_to: str, reason: str, due: str | None,
          departments: list[str], **extra: Any) -> dict[str, Any]:
    return dict(kind=kind, priority=PRIORITIES[kind], reason=reason, compound_code=compound,
                refers_to=refers_to, due=due, departments=list(departments),
                **{k: None for k in ("issue_id", "category", "urgency", "meeting_id",
                                     "decision", "issue_ids", "summonses")} | extra)


def _about(issue: dict[str, Any]) -> str:
    return (f"the {_words(issue['category'])} problem \"{issue['description']}\" raised on "
            f"{show_day(issue['blown_at'])}")


def _issue_items(issue: dict[str, Any], cutoff: str) -> list[dict[str, Any]]:
    """The items of an issue open at the cut-off, each showing every summons
    as of the cut-off (made only for an issue that has items)."""
    items = list(_issue_points(issue, cutoff))
    if items:
        summonses = state.summonses_out(issue, cutoff)
        for item in items:
            item["summonses"] = summonses
    return items


def _issue_points(issue: dict[str, Any], cutoff: str) -> Iterable[dict[str, Any]]:
    """Each item names the departments still summoned: a department whose
    decline was accepted, or that was reassigned away, has left."""
    ref = dict(issue_id=issue["issue_id"], category=issue["category"], urgency=issue["urgency"])
    refers_to = f"issue:{issue['issue_id']}"
    about = _about(issue)
    acting = state.acting(issue)
    for s in acting:
        due = s["report_due_at"]
        if s["state"] == "awaiting_report" and due <= cutoff:
            yield _item("not_reported", issue["compound"], refers_to,
                        f"{_cap(_department(s['department']))} has not reported in on {about}; "
                        f"the report-in was due {show_moment(due)}."
                        f"{_DECLINED.get(s['decline'], '')}", due, [s["department"]], **ref)
    departments = [s["department"] for s in acting]
    if issue["escalations"]:
        escalations = issue["escalations"]
        named: list[str] = []
        late: list[str] = []
        unresolved = False
        for e in escalations:
            for d in e["departments"]:
                if d not in named:
                    named.append(d)
            if e["reason"] == "not_reported":
                late.extend(d for d in e["departments"] if d not in late)
            else:
                unresolved = True
        because = []
        if late:
            because.append(" and ".join(_department(d) for d in late) + " did not report in time")
        if unresolved:
            because.append("it was not resolved in time")
        last = escalations[-1]
        yield _item("escalated", issue["compound"], refers_to,
                    f"{_cap(about)} was escalated to the {last['to_level']} level on "
                    f"{show_day(last['at'])} because {' and '.join(because)}; it is still open.",
                    escalations[0]["at"],
                    [d for d in named if d in departments] or departments, **ref)
    overdue = [s for s in acting if s["resolve_due_at"] <= cutoff]
    if overdue:
        due = min(s["resolve_due_at"] for s in overdue)
        yield _item("overdue", issue["compound"], refers_to,
                    f"{_cap(about)} was due to be resolved by {show_moment(due)} and is still "
                    "open.", due, [s["department"] for s in overdue], **ref)
    if issue["reopened"]:
        times = len(issue["reopened"])
        again = "it was reopened" if times == 1 else f"it has been reopened {times} times"
        yield _item("unsatisfied", issue["compound"], refers_to,
                    f"Residents rated the resolution of {about} unsatisfied on "
                    f"{show_day(issue['reopened'][-1])}; {again} and is still open.",
                    issue["reopened"][-1], departments, **ref)


# What a not_reported reason adds about the department's decline (退单).
_DECLINED = {"pending": " It has declined the issue; an official has yet to decide.",
             "rejected": " Its decline of the issue was rejected."}


def _recurring(issues: Iterable[dict[str, Any]], window: str) -> Iterable[dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for issue in issues:
        if issue["blown_at"] >= window and not issue.get("duplicate"):
            groups[(issue["compound"], issue["category"])].append(issue)
    for (compound, category), found in sorted(groups.items()):
        if len(found) < RECURRING_THRESHOLD:
            continue
        found.sort(key=lambda i: (i["blown_at"], i["issue_id"]))
        departments: list[str] = []
        for issue in found:
            departments.extend(s["department"] for s in state.acting(issue)
                               if s["department"] not in departments)
        yield _item("recurring", compound, f"category:{category}",
                    f"{_cap(_words(category))} was reported {len(found)} times in the "
                    f"{RECURRING_WINDOW_DAYS} days before the meeting (first on "
                    f"{show_day(found[0]['blown_at'])}, last on {show_day(found[-1]['blown_at'])}"
                    "); the problem keeps coming back and needs a lasting fix.",
                    found[0]["blown_at"], departments, category=category,
                    issue_ids=[i["issue_id"] for i in found])


def _decision_item(compound: str, meeting_id: str, seq: int, held_on: str, text: str,
                   owner: str | None, due_on: str, issue_id: str | None,
                   departments: list[str], meeting_day: str) -> dict[str, Any]:
    owned = f" (owner: {owner})" if owner else ""
    said = f"The joint meeting of {held_on} decided \"{text}\"{owned}, due {due_on}"
    if due_on < meeting_day:
        reason = f"{said}; it has not been followed up at a meeting since and is overdue."
    else:
        reason = f"{said}; report on its progress."
    return _item("decision_due", compound, f"decision:{meeting_id}/{seq}", reason, due_on,
                 departments, meeting_id=meeting_id, decision=seq, issue_id=issue_id)


def _committee_items(compound: str, term_start: str, term_end: str, members: int, party: int,
                     below_half: int, meeting_day: str,
                     horizon: str) -> Iterable[dict[str, Any]]:
    refers_to = f"owners_committee:{term_start}"
    if term_end <= horizon:
        if term_end < meeting_day:
            reason = f"The owners' committee term ended on {term_end}; the re-election is overdue."
        else:
            reason = (f"The owners' committee term ends on {term_end}, within "
                      f"{GOVERNANCE_WINDOW_DAYS} days; prepare the re-election.")
        yield _item("committee_term_ending", compound, refers_to, reason, term_end, [])
    if below_half:
        yield _item("party_below_half", compound, refers_to,
                    f"Only {party} of the {members} owners' committee members are party "
                    "members, below the half the rules ask for.", None, [])


def _contract_items(compound: str, contract: tuple | None, meeting_day: str,
                    horizon: str) -> Iterable[dict[str, Any]]:
    if contract is None:
        yield _item("no_property_company", compound, "property_contract:none",
                    "The compound has no property company: no property contract has been "
                    "recorded.", None, [])
        return
    _, _, _, company_code, company_name, _, ends_on = contract
    refers_to = f"property_contract:{company_code}"
    if ends_on < meeting_day:
        yield _item("no_property_company", compound, refers_to,
                    f"The compound has no property company: the contract with {company_name} "
                    f"ended on {ends_on}.", ends_on, [])
    elif ends_on <= horizon:
        yield _item("contract_ending", compound, refers_to,
                    f"The property contract with {company_name} ends on {ends_on}, within "
                    f"{GOVERNANCE_WINDOW_DAYS} days; prepare the renewal or the selection of a "
                    "new company.", ends_on, [])
