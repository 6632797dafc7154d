"""An issue as the agenda knows it at the cut-off: open or not, and each
summons with its state and current deadlines, replayed from the agenda's
timeline in log order (docs/agenda.md, "State of an issue at the cut-off").

The words are the issues list's (docs/queues.md): a summons is
`awaiting_report`, `awaiting_resolution`, `resolved`, `ended` (its decline
accepted, or reassigned away) or `closed` (the issue a duplicate); `decline`
is `pending`, `accepted` or `rejected`; `extension` `pending`, `approved` or
`refused`. The issues view keeps the state now; the agenda replays it as of
any cut-off, so the replay here follows the issues view's fold step by step.
Moments are the stored fixed-width UTC text (projections/moments.py).
"""
from __future__ import annotations

from typing import Any

from projections.issues.view import AWAITING
from projections.moments import api_moment


def _summons(department: str, at: str, report_due: str, resolve_due: str) -> dict[str, Any]:
    return dict(department=department, state="awaiting_report", summoned_at=at,
                report_due_at=report_due, resolve_due_at=resolve_due, reported_at=None,
                decline=None, extension=None, extension_until=None)


def blown(departments: list[str], at: str, report_due: str,
          resolve_due: str) -> dict[str, dict[str, Any]]:
    """The summonses of a whistle, in the order it named the departments."""
    return {d: _summons(d, at, report_due, resolve_due) for d in departments}


def replay(issue: dict[str, Any], kind: str, at: str, info: dict[str, Any]) -> None:
    """One fact of the timeline (a report-in is kind `reported`)."""
    summonses = issue["summonses"]
    s = summonses.get(info.get("department") or "")
    if kind == "reported" and s is not None:
        s["reported_at"] = at
        if s["state"] == "awaiting_report":
            s["state"] = "awaiting_resolution"
    elif kind == "resolved":
        issue["open"] = False
        for s in summonses.values():
            if s["state"] in AWAITING:
                s["state"] = "resolved"
    elif kind == "reopened":
        issue["open"] = True
        issue["reopened"].append(at)
        for s in summonses.values():  # one new deadline for everyone, extensions spent
            if s["state"] == "resolved":
                s["state"] = "awaiting_resolution" if s["reported_at"] else "awaiting_report"
            if s["state"] != "ended":
                s["resolve_due_at"] = info["resolve_due_at"]
                s["extension"] = s["extension_until"] = None
    elif kind == "escalated":
        issue["escalations"].append(dict(info, at=at))
    elif kind == "duplicate":  # off the agenda, and no recurrence
        issue["open"] = False
        issue["duplicate"] = True
        for s in summonses.values():
            if s["state"] in AWAITING:
                s["state"] = "closed"
    elif kind == "summoned":  # 改派 (replacing a department) or 追加
        ended = summonses.get(info["replaces"] or "")
        if ended is not None:
            ended["state"] = "ended"
            if ended["decline"] == "pending":
                ended["decline"] = "accepted"
        summonses[info["department"]] = _summons(info["department"], at,
                                                 info["report_due_at"], info["resolve_due_at"])
    elif s is None:
        return
    elif kind == "declined":
        s["decline"] = "pending"
    elif kind == "decline_accepted":
        s["decline"], s["state"] = "accepted", "ended"
    elif kind == "decline_rejected":
        s["decline"] = "rejected"
    elif kind == "extension_requested":
        s["extension"], s["extension_until"] = "pending", info["until"]
    elif kind == "extension_approved":
        s["extension"], s["extension_until"] = "approved", info["until"]
        s["resolve_due_at"] = info["until"]
    elif kind == "extension_refused":
        s["extension"] = "refused"


def acting(issue: dict[str, Any]) -> list[dict[str, Any]]:
    """The summonses not ended, in the order the departments were summoned."""
    return [s for s in issue["summonses"].values() if s["state"] != "ended"]


def awaiting_until(s: dict[str, Any]) -> str | None:
    """The deadline a summons now awaits: its report-in, then its resolution."""
    return (s["report_due_at"] if s["state"] == "awaiting_report" else
            s["resolve_due_at"] if s["state"] == "awaiting_resolution" else None)


def summonses_out(issue: dict[str, Any], cutoff: str) -> list[dict[str, Any]]:
    """Every summons of the issue, ended ones too, as an item shows them: in
    the issues list's order (summoned first, then by department), moments as
    the agenda's `due`, `overdue` as of the cut-off."""
    out = []
    for s in sorted(issue["summonses"].values(),
                    key=lambda s: (s["summoned_at"], s["department"])):
        due = awaiting_until(s)
        out.append(dict(
            department=s["department"], state=s["state"],
            summoned_at=api_moment(s["summoned_at"]),
            report_due_at=api_moment(s["report_due_at"]),
            resolve_due_at=api_moment(s["resolve_due_at"]),
            reported_at=api_moment(s["reported_at"]), decline=s["decline"],
            extension=s["extension"], extension_until=api_moment(s["extension_until"]),
            awaiting_until=api_moment(due), overdue=due is not None and due <= cutoff))
    return out


def summonses_cell(summonses: list[dict[str, Any]] | None) -> str:
    """The summonses in one CSV cell: `fire: awaiting_report until <time>
    (overdue); police: ended, decline accepted`."""
    cells = []
    for s in summonses or []:
        cell = f"{s['department']}: {s['state']}"
        if s["awaiting_until"]:
            cell += f" until {s['awaiting_until']}" + (" (overdue)" if s["overdue"] else "")
        if s["decline"]:
            cell += f", decline {s['decline']}"
        if s["extension"]:
            cell += f", extension {s['extension']} to {s['extension_until']}"
        cells.append(cell)
    return "; ".join(cells)
