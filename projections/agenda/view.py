"""Joint-meeting agenda (联席会议议程), per compound and per community.

The view keeps, per compound, what an agenda needs to be evaluated as of any
meeting date: issues with their deadlines, summonses and report-ins, the
timeline of resolutions, reopenings, escalations and the push-back facts
(declines and the officials' decisions on them, later summonses, extensions,
duplicates), earlier meetings and their decisions, owners' committee elections and property
contracts. `agenda_for_compound` and `agenda_for_community` then evaluate the
agenda for a meeting date from these tables alone; docs/agenda.md states the
rules word for word.

The cut-off of an agenda is 00:00 (UTC+8) of the meeting day: a fact counts
when it was recorded (`at`) before the cut-off, and a deadline has passed when
it is at or before the cut-off. The agenda can so be printed on the morning of
the meeting and does not change while the meeting runs, and an agenda for a
past date shows what was known then.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from uuid import UUID

from domain.compound import Compound
from projections.feed import Batch, View
from projections.bulk import index_name, insert_rows, update_rows, where_in
from projections.moments import moment
from projections.codes import CODES, missing, remember
from projections.versions import keep_version
from adapters.db import Cursor, Database

# 2: the push-back facts in the timeline and report-ins by log position, so a
# department summoned again reports anew (issue 14); version 1 kept one
# report-in per department and left declines, later summonses and
# extensions out.
VERSION = 2

# The events an agenda is made of; any other is skipped unread.
_FOLDED = frozenset({
    Compound.Registered, Compound.WhistleBlown, Compound.DepartmentReported,
    Compound.IssueResolved, Compound.IssueReopened, Compound.IssueEscalated,
    Compound.JointMeetingHeld, Compound.OwnersCommitteeElected,
    Compound.PropertyCompanyContracted, Compound.IssueClosedAsDuplicate,
    Compound.SummonsDeclined, Compound.DeclineAccepted, Compound.DeclineRejected,
    Compound.DepartmentSummoned, Compound.ExtensionRequested, Compound.ExtensionApproved,
    Compound.ExtensionRefused})

# A push-back fact in the timeline: its kind there (the issues list's words),
# and what of the event the replay reads (docs/agenda.md).
_PUSH_BACK = {
    Compound.SummonsDeclined: "declined", Compound.DeclineAccepted: "decline_accepted",
    Compound.DeclineRejected: "decline_rejected", Compound.DepartmentSummoned: "summoned",
    Compound.ExtensionRequested: "extension_requested",
    Compound.ExtensionApproved: "extension_approved",
    Compound.ExtensionRefused: "extension_refused"}


class AgendaView(View):
    name = "agenda"
    cost = 0.7
    rewritten = ("issues",)
    tables = ("version", "compounds", "issues", "reports", "ievents", "meetings", "decisions",
              "committees", "contracts")

    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        keep_version(db, cur, prefix, self, VERSION)
        t = {b: self.table(db, prefix, b) for b in self.tables}
        ix = lambda base, n: index_name(prefix, self.name, base, n)  # noqa: E731
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['compounds']} (code TEXT PRIMARY KEY, "
                    "id TEXT NOT NULL, name TEXT NOT NULL, district TEXT NOT NULL, "
                    "street TEXT NOT NULL, community TEXT NOT NULL, "
                    "registered_at TEXT NOT NULL)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('compounds', 'community')} "
                    f"ON {t['compounds']} (community)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('compounds', 'id')} "
                    f"ON {t['compounds']} (id)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['issues']} (compound TEXT NOT NULL, "
                    "issue_id TEXT NOT NULL, category TEXT NOT NULL, description TEXT NOT NULL, "
                    "urgency TEXT NOT NULL, departments TEXT NOT NULL, blown_at TEXT NOT NULL, "
                    "report_due_at TEXT NOT NULL, resolve_due_at TEXT NOT NULL, "
                    "status TEXT NOT NULL, PRIMARY KEY (compound, issue_id))")
        # By log position: a department summoned again (改派 back, 追加) reports anew.
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['reports']} (pos BIGINT PRIMARY KEY, "
                    "compound TEXT NOT NULL, issue_id TEXT NOT NULL, department TEXT NOT NULL, "
                    "at TEXT NOT NULL, officer TEXT)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('reports', 'compound')} "
                    f"ON {t['reports']} (compound, at)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['ievents']} (pos BIGINT PRIMARY KEY, "
                    "compound TEXT NOT NULL, issue_id TEXT NOT NULL, kind TEXT NOT NULL, "
                    "at TEXT NOT NULL, detail TEXT NOT NULL)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('ievents', 'issue')} "
                    f"ON {t['ievents']} (compound, issue_id, at)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['meetings']} (compound TEXT NOT NULL, "
                    "meeting_id TEXT NOT NULL, held_on TEXT NOT NULL, recorded_at TEXT NOT NULL, "
                    "PRIMARY KEY (compound, meeting_id))")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['decisions']} (compound TEXT NOT NULL, "
                    "meeting_id TEXT NOT NULL, seq INTEGER NOT NULL, held_on TEXT NOT NULL, "
                    "recorded_at TEXT NOT NULL, decision_text TEXT NOT NULL, owner TEXT NOT NULL, "
                    "due_on TEXT NOT NULL, issue_id TEXT, departments TEXT NOT NULL, "
                    "PRIMARY KEY (compound, meeting_id, seq))")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['committees']} (pos BIGINT PRIMARY KEY, "
                    "compound TEXT NOT NULL, recorded_at TEXT NOT NULL, term_start TEXT NOT NULL, "
                    "term_end TEXT NOT NULL, members INTEGER NOT NULL, "
                    "party_members INTEGER NOT NULL, party_below_half INTEGER NOT NULL)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('committees', 'compound')} "
                    f"ON {t['committees']} (compound)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['contracts']} (pos BIGINT PRIMARY KEY, "
                    "compound TEXT NOT NULL, recorded_at TEXT NOT NULL, "
                    "company_code TEXT NOT NULL, company_name TEXT NOT NULL, "
                    "starts_on TEXT NOT NULL, ends_on TEXT NOT NULL)")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {ix('contracts', 'compound')} "
                    f"ON {t['contracts']} (compound)")

    # -- feeding ------------------------------------------------------------
    def _codes(self, db: Database, cur: Cursor, table: str,
               events: list[tuple[int, Any]]) -> None:
        """Fills the cache with the codes of the compounds the events name."""
        unknown = missing(e.originator_id for _, e in events)
        unknown -= {e.originator_id for _, e in events if type(e) is Compound.Registered}
        for where, params in where_in(db, "id", sorted(str(i) for i in unknown)):
            cur.execute(f"SELECT id, code FROM {table} WHERE {where}", params)
            for id_, code in cur.fetchall():
                remember(UUID(id_), code)

    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        # A quarter of the log (progress notes, ratings) changes no agenda:
        # dropped here by type, before any other work.
        events = [(pos, e) for pos, e in batch if type(e) in _FOLDED]
        if not events:
            return
        t = {b: self.table(db, prefix, b) for b in self.tables}
        self._codes(db, cur, t["compounds"], events)
        rows: dict[str, list[tuple]] = defaultdict(list)
        new_issues: dict[tuple[str, str], list[Any]] = {}
        status: dict[tuple[str, str], str] = {}

        def set_status(key: tuple[str, str], value: str) -> None:
            if key in new_issues:
                new_issues[key][9] = value
            else:
                status[key] = value

        for pos, e in events:
            kind = type(e)
            if kind is Compound.Registered:
                remember(e.originator_id, e.code)
                rows["compounds"].append((e.code, str(e.originator_id), e.name, e.district,
                                          e.street, e.community, moment(e.at)))
                continue
            code = CODES[e.originator_id]
            if kind is Compound.WhistleBlown:
                new_issues[(code, e.issue_id)] = [
                    code, e.issue_id, e.category, e.description, e.urgency,
                    json.dumps(list(e.departments)), moment(e.at), moment(e.report_due_at),
                    moment(e.resolve_due_at), "open"]
            elif kind is Compound.DepartmentReported:
                rows["reports"].append((pos, code, e.issue_id, e.department, moment(e.at),
                                        e.officer))
            elif kind is Compound.IssueResolved:
                rows["ievents"].append((pos, code, e.issue_id, "resolved", moment(e.at),
                                        json.dumps({"department": e.department})))
                set_status((code, e.issue_id), "resolved")
            elif kind is Compound.IssueReopened:
                rows["ievents"].append((pos, code, e.issue_id, "reopened", moment(e.at),
                                        json.dumps({"resolve_due_at": moment(e.resolve_due_at)})))
                set_status((code, e.issue_id), "open")
            elif kind is Compound.IssueEscalated:
                rows["ievents"].append((pos, code, e.issue_id, "escalated", moment(e.at),
                                        json.dumps({"reason": e.reason,
                                                    "departments": list(e.departments),
                                                    "to_level": e.to_level})))
            elif kind is Compound.IssueClosedAsDuplicate:
                rows["ievents"].append((pos, code, e.issue_id, "duplicate", moment(e.at),
                                        json.dumps({"duplicate_of": e.duplicate_of})))
                set_status((code, e.issue_id), "duplicate")
            elif kind in _PUSH_BACK:
                rows["ievents"].append((pos, code, e.issue_id, _PUSH_BACK[kind], moment(e.at),
                                        json.dumps(_push_back_detail(e))))
            elif kind is Compound.JointMeetingHeld:
                at = moment(e.at)
                rows["meetings"].append((code, e.meeting_id, e.held_on, at))
                rows["decisions"].extend(
                    (code, e.meeting_id, n, e.held_on, at, d["text"], d["owner"],
                     str(d["due_on"]), d.get("issue_id") or None,
                     json.dumps(list(d.get("departments") or [])))
                    for n, d in enumerate(e.decisions, start=1))
            elif kind is Compound.OwnersCommitteeElected:
                rows["committees"].append((pos, code, moment(e.at), e.term_start, e.term_end,
                                           len(e.members), e.party_members,
                                           int(bool(e.party_below_half))))
            elif kind is Compound.PropertyCompanyContracted:
                rows["contracts"].append((pos, code, moment(e.at), e.company_code,
                                          e.company_name, e.starts_on, e.ends_on))

        rows["issues"] = [tuple(r) for r in new_issues.values()]
        columns = {
            "compounds": ("code", "id", "name", "district", "street", "community",
                          "registered_at"),
            "issues": ("compound", "issue_id", "category", "description", "urgency",
                       "departments", "blown_at", "report_due_at", "resolve_due_at", "status"),
            "reports": ("pos", "compound", "issue_id", "department", "at", "officer"),
            "ievents": ("pos", "compound", "issue_id", "kind", "at", "detail"),
            "meetings": ("compound", "meeting_id", "held_on", "recorded_at"),
            "decisions": ("compound", "meeting_id", "seq", "held_on", "recorded_at",
                          "decision_text", "owner", "due_on", "issue_id", "departments"),
            "committees": ("pos", "compound", "recorded_at", "term_start", "term_end",
                           "members", "party_members", "party_below_half"),
            "contracts": ("pos", "compound", "recorded_at", "company_code", "company_name",
                          "starts_on", "ends_on"),
        }
        for base, cols in columns.items():
            insert_rows(db, cur, t[base], cols, rows[base])
        update_rows(db, cur, t["issues"], ("compound", "issue_id"), ("status",),
                    [(s, c, i) for (c, i), s in status.items()])


def _push_back_detail(e: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {"department": e.department}
    if type(e) is Compound.DepartmentSummoned:
        detail.update(replaces=e.replaces, report_due_at=moment(e.report_due_at),
                      resolve_due_at=moment(e.resolve_due_at))
    elif type(e) in (Compound.ExtensionRequested, Compound.ExtensionApproved):
        detail["until"] = moment(e.until)
    return detail
