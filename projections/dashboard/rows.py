"""What the dashboard keeps about one issue, and how it is counted.

An `Issue` is saved as one `summonses` row per summoned department. Its
`contribution` (Python) and `row_measures` (SQL, over one row) are two
spellings of the same counting rules; the tests check that they agree.
All moments are integer microseconds since the epoch.
"""
from __future__ import annotations

from collections import defaultdict
from operator import itemgetter
from typing import Any

from domain.compound import Compound
from projections.dashboard.calendar import US, to_us, xun_id

GOOD = ("satisfied", "basically_satisfied")

# Counts kept in `rollup`, in this order everywhere.
COUNTS = ("summonses", "reported", "in_time", "issues", "resolved", "rated", "satisfied",
          "first_satisfied", "open", "escalated", "unmet")

SUMMONS_COLUMNS = (
    "compound", "issue_id", "department", "lead", "street", "community", "blown", "day",
    "month", "year", "report_due", "resolve_due", "reported_at", "minutes", "in_time",
    "open", "reopened", "rated", "satisfied", "first_satisfied", "escalated", "issue_escalated",
    "esc_unreported", "esc_unresolved", "first_due", "issue_first_due", "watch_due")

_AS_ROW = itemgetter(*SUMMONS_COLUMNS)
# The per-department columns; the rest is the issue's. The deadlines are a
# summons' own: a department summoned later (改派, 追加) has later ones, and an
# approved extension moves one department's resolution deadline.
_OWN = ("department", "reported_at", "minutes", "in_time", "escalated",
        "esc_unreported", "report_due", "resolve_due")
_DERIVED = ("lead", "first_due", "issue_first_due", "watch_due")


def row_measures(dim: str) -> list[str]:
    """SQL expressions, over one `summonses` row, of its share of COUNTS under
    `dim`. For a department the row is the attribution; for a place the issue
    counts once, on its lead row."""
    reported = "CASE WHEN reported_at IS NULL THEN 0 ELSE 1 END"
    if dim == "department":
        issue = ["1", "1 - open", "rated", "satisfied", "first_satisfied", "open", "escalated",
                 "CASE WHEN first_due IS NULL THEN 0 ELSE 1 END"]
    else:
        issue = ["lead", "lead * (1 - open)", "lead * rated", "lead * satisfied",
                 "lead * first_satisfied", "lead * open", "lead * issue_escalated",
                 "CASE WHEN lead = 1 AND issue_first_due IS NOT NULL THEN 1 ELSE 0 END"]
    return ["1", reported, "in_time", *issue]


class Issue:
    NULLABLE = ("reported_at", "minutes", "first_due", "issue_first_due", "watch_due")

    def __init__(self, head: dict[str, Any]) -> None:
        self.head = head  # the issue-level columns, the same on every row
        self.rows: dict[str, dict[str, Any]] = {}  # by department, in summons order
        self.removed: set[str] = set()  # departments whose stored row must go

    @classmethod
    def blown(cls, compound: str, street: str, community: str, issue_id: str,
              departments: list[str], blown: int, report_due: int, resolve_due: int,
              periods: tuple[tuple[str, int], ...]) -> "Issue":
        (_, day), (_, month), (_, year) = periods
        issue = cls(dict(compound=compound, issue_id=issue_id, street=street,
                         community=community, blown=blown, day=day, month=month, year=year,
                         open=1, reopened=0, rated=0, satisfied=0, first_satisfied=0,
                         issue_escalated=0, esc_unresolved=0))
        for d in departments:
            issue.summoned(d, report_due, resolve_due)
        return issue

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> "Issue":
        rows = sorted(rows, key=lambda r: -r["lead"])  # the lead row first
        issue = cls({k: v for k, v in rows[0].items() if k not in _OWN + _DERIVED})
        for r in rows:
            issue.rows[r["department"]] = {k: r[k] for k in _OWN}
        return issue

    # -- the events --------------------------------------------------------
    def fold(self, e: Any) -> None:
        """An event of the issue after its whistle, by the verbs below: the one
        reading of these facts that the dashboard and the rankings share."""
        if isinstance(e, Compound.DepartmentReported):
            self.reported(e.department, to_us(e.at))
        elif isinstance(e, Compound.IssueResolved):
            self.resolved()
        elif isinstance(e, Compound.ResidentRated):
            self.rated(e.rating)
        elif isinstance(e, Compound.IssueReopened):
            self.reopened(to_us(e.resolve_due_at))
        elif isinstance(e, Compound.IssueEscalated):
            self.escalated(e.key, e.departments)
        elif isinstance(e, Compound.DeclineAccepted):
            self.ended(e.department)
        elif isinstance(e, Compound.DepartmentSummoned):
            if e.replaces:
                self.ended(e.replaces)
            self.summoned(e.department, to_us(e.report_due_at), to_us(e.resolve_due_at))
        elif isinstance(e, Compound.ExtensionApproved):
            self.extended(e.department, to_us(e.until))
        elif isinstance(e, Compound.IssueClosedAsDuplicate):
            self.duplicate()

    def summoned(self, department: str, report_due: int, resolve_due: int) -> None:
        self.removed.discard(department)
        self.rows[department] = dict(department=department, reported_at=None, minutes=None,
                                     in_time=0, escalated=0, esc_unreported=0,
                                     report_due=report_due, resolve_due=resolve_due)

    def ended(self, department: str) -> None:
        """A decline accepted or a reassignment: the summons leaves every figure."""
        if self.rows.pop(department, None) is not None:
            self.removed.add(department)

    def extended(self, department: str, resolve_due: int) -> None:
        if department in self.rows:
            self.rows[department]["resolve_due"] = resolve_due

    def duplicate(self) -> None:
        """Closed as a duplicate of another issue: it leaves every figure."""
        for department in list(self.rows):
            self.ended(department)

    def reported(self, department: str, at: int) -> None:
        row = self.rows[department]
        if row["reported_at"] is not None:
            return
        # Whole minutes, rounded down; an imported report dated before the
        # whistle counts as 0 minutes rather than a negative time.
        minutes = max(0, (at - self.head["blown"]) // (60 * US))
        row.update(reported_at=at, minutes=minutes, in_time=int(at <= row["report_due"]))

    def resolved(self) -> None:
        self.head["open"] = 0

    def rated(self, rating: str) -> None:
        good = int(rating in GOOD)
        if not self.head["rated"]:
            self.head["first_satisfied"] = good
        self.head.update(rated=1, satisfied=good)

    def reopened(self, resolve_due: int) -> None:
        self.head.update(open=1, reopened=self.head["reopened"] + 1, esc_unresolved=0)
        for row in self.rows.values():  # one new deadline for everyone, extensions spent
            row["resolve_due"] = resolve_due

    def escalated(self, key: str, departments: list[str]) -> None:
        self.head["issue_escalated"] = 1
        for d in departments:
            if d in self.rows:
                self.rows[d]["escalated"] = 1
        if key.startswith("not_reported:"):
            department = key.split(":", 1)[1]
            if department in self.rows:
                self.rows[department]["esc_unreported"] = 1
        elif key == f"not_resolved:{self.head['reopened']}":
            self.head["esc_unresolved"] = 1

    # -- what is saved and counted ----------------------------------------
    def _dues(self) -> dict[str, tuple[int | None, int | None]]:
        """Per department: (first_due, watch_due). first_due is the earliest
        deadline still unmet (report-in if not reported, resolution if open),
        None when nothing is pending; watch_due the same over deadlines whose
        escalation is not yet recorded."""
        h, out = self.head, {}
        for d, r in self.rows.items():
            unreported = r["reported_at"] is None
            pending = ([r["report_due"]] if unreported else []) + \
                      ([r["resolve_due"]] if h["open"] else [])
            unwatched = ([r["report_due"]] if unreported and not r["esc_unreported"] else []) + \
                        ([r["resolve_due"]] if h["open"] and not h["esc_unresolved"] else [])
            out[d] = (min(pending, default=None), min(unwatched, default=None))
        return out

    def table_rows(self) -> list[tuple]:
        dues = self._dues()
        issue_due = min((f for f, _ in dues.values() if f is not None), default=None)
        out = []
        for i, (d, r) in enumerate(self.rows.items()):
            row = dict(self.head, **r, lead=int(i == 0), first_due=dues[d][0],
                       issue_first_due=issue_due, watch_due=dues[d][1])
            out.append(_AS_ROW(row))
        return out

    def contribution(self) -> tuple[dict[tuple, list[int]], dict[tuple, int]]:
        """Python twin of `row_measures`: this issue's counts keyed
        (dim, grain, period, key) and its minutes keyed (..., minute)."""
        if not self.rows:
            return {}, {}  # every summons ended: the issue counts nowhere
        h, dues = self.head, self._dues()
        issue_level = [1 - h["open"], h["rated"], h["satisfied"], h["first_satisfied"], h["open"]]
        rows = list(self.rows.values())
        reported = [r for r in rows if r["reported_at"] is not None]
        attributions = [(("department", r["department"]),
                         [1, int(r["reported_at"] is not None), r["in_time"], 1, *issue_level,
                          r["escalated"], int(dues[r["department"]][0] is not None)],
                         [r] if r["reported_at"] is not None else []) for r in rows]
        unmet = int(any(f is not None for f, _ in dues.values()))
        place = [len(rows), len(reported), sum(r["in_time"] for r in rows), 1, *issue_level,
                 h["issue_escalated"], unmet]
        for dim in ("street", "community", "compound"):
            attributions.append(((dim, h[dim]), place, reported))
        counts: dict[tuple, list[int]] = {}
        minutes: dict[tuple, int] = defaultdict(int)
        # Running totals (grain "c") follow from the months: dashboard_running.py.
        for grain, period in (("d", h["day"]), ("x", xun_id(h["day"])), ("m", h["month"])):
            for (dim, key), vector, with_minutes in attributions:
                counts[(dim, grain, period, key)] = vector
                for r in with_minutes:
                    minutes[(dim, grain, period, key, r["minutes"])] += 1
        return counts, minutes

