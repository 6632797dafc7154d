"""A residential compound (小区) and everything that happens to it.

Each compound is one aggregate; its stream is the compound's history. Public
methods are the domain's verbs: they check the rules and then trigger the
past-tense events, whose private appliers only change state. Issues live
inside the compound because every rule about an issue (who was summoned,
whether it is resolved) is decided by the compound's own history.

State is kept in plain dicts, lists, strings and datetimes so that snapshots
and events transcode without custom types.

One module, though long: the aggregate is one consistency boundary, and its
event classes are stored by topic (`domain.compound:Compound.X`), so they stay.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.deadlines import URGENCIES, DeadlinePolicy
from domain.exceptions import RuleBroken, UnknownFact
from domain.ids import compound_id
from domain.repeats import fingerprint, is_repeat

KINDS = ("commodity", "old", "resettlement", "three_no")
MANAGEMENT_MODES = ("professional", "entrusted", "self_managed")
SOURCES = ("grid_patrol", "hotline_12345", "resident", "property_company", "open311")
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
INCIDENT_KINDS = ("safety_accident", "mass_incident", "violation")
ESCALATION_LEVELS = ("street", "district", "city")


class Compound(Aggregate):
    location: dict[str, Any] | None = None  # for snapshots taken before locations existed

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return compound_id(code)

    # -- registered -----------------------------------------------------
    @event("Registered")
    def __init__(self, code: str, name: str, district: str, street: str,
                 community: str, grids: list[str], households: int, kind: str,
                 management_mode: str, fingerprint: str, at: datetime,
                 location: dict[str, Any] | None = None) -> None:
        # `location` came later: events stored before it have none.
        self.code = code
        self.name = name
        self.district = district
        self.street = street
        self.community = community
        self.grids = list(grids)
        self.households = households
        self.kind = kind
        self.management_mode = management_mode
        self.registered_fingerprint = fingerprint
        self.registered_at = at
        self.location = dict(location) if location else None
        self.property_contract: dict[str, Any] | None = None
        self.committee: dict[str, Any] | None = None
        self.issues: dict[str, dict[str, Any]] = {}
        self.fingerprints: dict[str, str] = {}
        self.decisions: list[dict[str, Any]] = []

    @classmethod
    def register(cls, *, code: str, name: str, district: str, street: str,
                 community: str, grids: list[str], households: int, kind: str,
                 management_mode: str, at: datetime, latitude: float | None = None,
                 longitude: float | None = None, address: str | None = None,
                 zipcode: str | None = None) -> "Compound":
        if kind not in KINDS:
            raise RuleBroken(f"kind must be one of {', '.join(KINDS)}")
        if management_mode not in MANAGEMENT_MODES:
            raise RuleBroken(f"management mode must be one of {', '.join(MANAGEMENT_MODES)}")
        fields = dict(code=code, name=name, district=district, street=street,
                      community=community, grids=list(grids), households=households,
                      kind=kind, management_mode=management_mode)
        location = _location(latitude, longitude, address, zipcode)
        return cls(**fields, fingerprint=_registration_fingerprint(fields, location), at=at,
                   location=location)

    def is_same_registration(self, *, latitude: float | None = None,
                             longitude: float | None = None, address: str | None = None,
                             zipcode: str | None = None, **fields: Any) -> bool:
        location = _location(latitude, longitude, address, zipcode)
        return self.registered_fingerprint == _registration_fingerprint(fields, location)

    # -- location ----------------------------------------------------------
    def locate(self, *, latitude: float | None, longitude: float | None,
               address: str | None, zipcode: str | None, at: datetime) -> None:
        """Sets or corrects where the compound is (WGS-84 degrees)."""
        location = _location(latitude, longitude, address, zipcode)
        if location is None:
            raise RuleBroken("a location has a latitude and longitude, an address, or both")
        if location == self.location:
            return  # a retry, or nothing to correct
        self._located(location=location, at=at)

    @event("Located")
    def _located(self, location: dict[str, Any], at: datetime) -> None:
        self.location = dict(location)

    # -- property company ----------------------------------------------
    def contract_property_company(self, *, company_code: str, company_name: str,
                                  starts_on: str, ends_on: str, at: datetime) -> None:
        if ends_on <= starts_on:
            raise RuleBroken("a property contract must end after it starts")
        fields = dict(company_code=company_code, starts_on=starts_on, ends_on=ends_on)
        if is_repeat(self.fingerprints, f"contract {company_code} {starts_on}", fields):
            return
        self._property_company_contracted(
            company_code=company_code, company_name=company_name, starts_on=starts_on,
            ends_on=ends_on, previous_company=(self.property_contract or {}).get("company_code"),
            fingerprint=fingerprint(fields), at=at)

    @event("PropertyCompanyContracted")
    def _property_company_contracted(self, company_code: str, company_name: str,
                                     starts_on: str, ends_on: str,
                                     previous_company: str | None, fingerprint: str,
                                     at: datetime) -> None:
        self.fingerprints[f"contract {company_code} {starts_on}"] = fingerprint
        self.property_contract = dict(company_code=company_code, company_name=company_name,
                                      starts_on=starts_on, ends_on=ends_on, since=at)

    # -- whistles and issues -------------------------------------------
    def blow_whistle(self, *, issue_id: str, category: str, description: str,
                     departments: list[str], urgency: str, source: str,
                     grid: str | None, building: str | None, unit: str | None,
                     grid_worker: str, policy: DeadlinePolicy, at: datetime,
                     media_url: str | None = None) -> None:
        if urgency not in URGENCIES:
            raise RuleBroken(f"urgency must be one of {', '.join(URGENCIES)}")
        if not departments:
            raise RuleBroken("a whistle summons at least one department")
        if len(set(departments)) != len(departments):
            raise RuleBroken("a department is summoned once per whistle")
        if grid is not None and self.grids and grid not in self.grids:
            raise RuleBroken(f"grid {grid} is not a grid of compound {self.code}")
        fields = dict(category=category, description=description, departments=list(departments),
                      urgency=urgency, source=source, grid=grid, building=building, unit=unit)
        if media_url is not None:
            fields["media_url"] = media_url  # only when given: older fingerprints stay valid
        if is_repeat(self.fingerprints, f"issue {issue_id}", fields):
            return
        self._whistle_blown(
            issue_id=issue_id, category=category, description=description,
            departments=list(departments), urgency=urgency, source=source, grid=grid,
            building=building, unit=unit, grid_worker=grid_worker,
            report_due_at=policy.report_due(urgency, at),
            resolve_due_at=policy.resolve_due(urgency, at),
            fingerprint=fingerprint(fields), at=at, media_url=media_url)

    @event("WhistleBlown")
    def _whistle_blown(self, issue_id: str, category: str, description: str,
                       departments: list[str], urgency: str, source: str,
                       grid: str | None, building: str | None, unit: str | None,
                       grid_worker: str, report_due_at: datetime,
                       resolve_due_at: datetime, fingerprint: str, at: datetime,
                       media_url: str | None = None) -> None:
        self.fingerprints[f"issue {issue_id}"] = fingerprint
        self.issues[issue_id] = dict(
            issue_id=issue_id, category=category, description=description,
            departments=list(departments), urgency=urgency, source=source, grid=grid,
            building=building, unit=unit, grid_worker=grid_worker, blown_at=at,
            report_due_at=report_due_at, resolve_due_at=resolve_due_at,
            status="open", level="street", reports={}, progress=[], resolutions=[],
            ratings=[], escalations=[], reopened=0, media_url=media_url)

    def issue(self, issue_id: str) -> dict[str, Any]:
        try:
            return self.issues[issue_id]
        except KeyError:
            raise UnknownFact(f"issue {issue_id} is unknown in compound {self.code}") from None

    def _summoned(self, issue: dict[str, Any], department: str) -> None:
        if department not in issue["departments"]:
            raise RuleBroken(f"department {department} was not summoned by issue {issue['issue_id']}")

    def report_in(self, *, issue_id: str, department: str, officer: str, at: datetime) -> None:
        issue = self.issue(issue_id)
        self._summoned(issue, department)
        if issue["status"] == "duplicate":
            raise RuleBroken(f"issue {issue_id} was closed as a duplicate")
        if department in issue["reports"]:
            return  # a department reports in once; a retry changes nothing
        self._department_reported(issue_id=issue_id, department=department,
                                  officer=officer, at=at)

    @event("DepartmentReported")
    def _department_reported(self, issue_id: str, department: str, officer: str,
                             at: datetime) -> None:
        self.issues[issue_id]["reports"][department] = dict(officer=officer, at=at)

    def note_progress(self, *, issue_id: str, department: str, note: str, at: datetime) -> None:
        issue = self.issue(issue_id)
        self._summoned(issue, department)
        if issue["status"] == "resolved":
            raise RuleBroken(f"issue {issue_id} is resolved; reopen it before noting progress")
        last = issue["progress"][-1] if issue["progress"] else None
        if last and last["department"] == department and last["note"] == note:
            return  # the same note twice in a row is a client retry
        self._progress_noted(issue_id=issue_id, department=department, note=note, at=at)

    @event("ProgressNoted")
    def _progress_noted(self, issue_id: str, department: str, note: str, at: datetime) -> None:
        self.issues[issue_id]["progress"].append(dict(department=department, note=note, at=at))

    def resolve(self, *, issue_id: str, department: str, how: str, at: datetime) -> None:
        issue = self.issue(issue_id)
        self._summoned(issue, department)
        if issue["status"] == "duplicate":
            raise RuleBroken(f"issue {issue_id} was closed as a duplicate")
        if issue["status"] == "resolved":
            last = issue["resolutions"][-1]
            if last["department"] == department and last["how"] == how:
                return
            raise RuleBroken(f"issue {issue_id} is already resolved")
        self._issue_resolved(issue_id=issue_id, department=department, how=how, at=at)

    @event("IssueResolved")
    def _issue_resolved(self, issue_id: str, department: str, how: str, at: datetime) -> None:
        issue = self.issues[issue_id]
        issue["status"] = "resolved"
        issue["resolutions"].append(dict(department=department, how=how, at=at))

    def rate(self, *, issue_id: str, rating: str, comment: str | None, rated_by: str,
             policy: DeadlinePolicy, at: datetime) -> None:
        if rating not in RATINGS:
            raise RuleBroken(f"rating must be one of {', '.join(RATINGS)}")
        issue = self.issue(issue_id)
        cycle = len(issue["resolutions"])
        rated_this_cycle = [r for r in issue["ratings"] if r["cycle"] == cycle]
        if rated_this_cycle:
            if rated_this_cycle[-1]["rating"] == rating:
                return
            raise RuleBroken(f"the resolution of issue {issue_id} was already rated")
        if issue["status"] != "resolved":
            raise RuleBroken(f"issue {issue_id} must be resolved before it is rated")
        self._resident_rated(issue_id=issue_id, rating=rating, comment=comment,
                             rated_by=rated_by, cycle=cycle, at=at)
        if rating == "unsatisfied":
            self._issue_reopened(issue_id=issue_id, reason="unsatisfied rating",
                                 resolve_due_at=policy.resolve_due(issue["urgency"], at), at=at)

    @event("ResidentRated")
    def _resident_rated(self, issue_id: str, rating: str, comment: str | None,
                        rated_by: str, cycle: int, at: datetime) -> None:
        self.issues[issue_id]["ratings"].append(
            dict(rating=rating, comment=comment, rated_by=rated_by, cycle=cycle, at=at))

    @event("IssueReopened")
    def _issue_reopened(self, issue_id: str, reason: str, resolve_due_at: datetime,
                        at: datetime) -> None:
        issue = self.issues[issue_id]
        issue["status"] = "open"
        issue["reopened"] += 1
        issue["resolve_due_at"] = resolve_due_at

    # -- push-back: decline, reassign, extension, duplicate -----------------
    # Older snapshots lack these keys on an issue: read them with .get.
    def _active(self, issue: dict[str, Any], department: str) -> None:
        self._summoned(issue, department)

    def _open(self, issue: dict[str, Any]) -> None:
        if issue["status"] != "open":
            raise RuleBroken(f"issue {issue['issue_id']} is {issue['status']}, not open")

    def report_due_of(self, issue: dict[str, Any], department: str) -> datetime:
        own = (issue.get("due") or {}).get(department) or {}
        return own.get("report_due_at") or issue["report_due_at"]

    def resolve_due_of(self, issue: dict[str, Any], department: str) -> datetime:
        """The summons' own resolution deadline: an approved extension or a later
        summons' own deadline, for the current resolution cycle only (a
        reopening sets one new deadline for everyone)."""
        own = (issue.get("due") or {}).get(department) or {}
        if own.get("resolve_due_at") and own.get("cycle") == issue["reopened"]:
            return own["resolve_due_at"]
        return issue["resolve_due_at"]

    def decline(self, *, issue_id: str, department: str, reason: str, at: datetime) -> None:
        """退单: the department says the issue is not its own. The summons then
        waits for an official's decision; its deadlines keep running."""
        issue = self.issue(issue_id)
        self._active(issue, department)
        self._open(issue)
        previous = (issue.get("declines") or {}).get(department)
        if previous and previous["state"] == "pending":
            if previous["reason"] == reason:
                return
            raise RuleBroken(f"department {department} already declined issue {issue_id}")
        if previous and previous["state"] == "rejected":
            raise RuleBroken(f"the decline of department {department} was rejected; it must act")
        self._summons_declined(issue_id=issue_id, department=department, reason=reason, at=at)

    @event("SummonsDeclined")
    def _summons_declined(self, issue_id: str, department: str, reason: str,
                          at: datetime) -> None:
        self.issues[issue_id].setdefault("declines", {})[department] = dict(
            reason=reason, at=at, state="pending")

    def _decided(self, issue_id: str, kind: str, department: str, decision: str) -> bool:
        """An official decides a department's request (its decline, its
        extension) once. True when this very decision was already taken (a
        retry: nothing to do); an opposite one, or no request, breaks the rule."""
        asked = {"decline": "declined", "extension": "asked to extend"}[kind]
        request = (self.issue(issue_id).get(kind + "s") or {}).get(department)
        if request is None:
            raise RuleBroken(f"department {department} has not {asked} issue {issue_id}")
        if request["state"] == "pending":
            return False
        if request["state"] == decision:
            return True
        raise RuleBroken(f"the {kind} of department {department} was already {request['state']}")

    def decide_decline(self, *, issue_id: str, department: str, accept: bool, official: str,
                       note: str | None, at: datetime) -> None:
        issue = self.issue(issue_id)
        if self._decided(issue_id, "decline", department, "accepted" if accept else "rejected"):
            return
        if accept and issue["departments"] == [department]:
            # An issue always has a department acting on it, as a whistle does.
            raise RuleBroken(f"department {department} is the only one summoned by issue "
                             f"{issue_id}: reassign it to another department instead")
        if accept:
            self._decline_accepted(issue_id=issue_id, department=department, official=official,
                                   note=note, at=at)
        else:
            self._decline_rejected(issue_id=issue_id, department=department, official=official,
                                   note=note, at=at)

    @event("DeclineAccepted")
    def _decline_accepted(self, issue_id: str, department: str, official: str,
                          note: str | None, at: datetime) -> None:
        issue = self.issues[issue_id]
        issue["declines"][department]["state"] = "accepted"
        issue["departments"] = [d for d in issue["departments"] if d != department]
        issue.setdefault("ended", {})[department] = dict(why="decline_accepted", at=at)

    @event("DeclineRejected")
    def _decline_rejected(self, issue_id: str, department: str, official: str,
                          note: str | None, at: datetime) -> None:
        self.issues[issue_id]["declines"][department]["state"] = "rejected"

    def summon_department(self, *, issue_id: str, department: str, replaces: str | None,
                          official: str, reason: str | None, policy: DeadlinePolicy,
                          at: datetime) -> None:
        """改派 (with `replaces`, whose summons ends, its pending decline so
        accepted) or 追加: a new summons with deadlines of its own, counted from now."""
        issue = self.issue(issue_id)
        self._open(issue)
        if department == replaces:
            raise RuleBroken("a department cannot replace itself")
        if department in issue["departments"]:
            if replaces is None or replaces not in issue["departments"]:
                return  # already summoned: a retry
            raise RuleBroken(f"department {department} is already summoned by issue {issue_id}")
        if replaces is not None:
            self._active(issue, replaces)
        self._department_summoned(
            issue_id=issue_id, department=department, replaces=replaces, official=official,
            reason=reason, report_due_at=policy.report_due(issue["urgency"], at),
            resolve_due_at=policy.resolve_due(issue["urgency"], at), at=at)

    @event("DepartmentSummoned")
    def _department_summoned(self, issue_id: str, department: str, replaces: str | None,
                             official: str, reason: str | None, report_due_at: datetime,
                             resolve_due_at: datetime, at: datetime) -> None:
        issue = self.issues[issue_id]
        departments = [d for d in issue["departments"] if d != replaces]
        issue["departments"] = departments + [department]
        if replaces is not None:
            issue.setdefault("ended", {})[replaces] = dict(why="reassigned", at=at)
            decline = (issue.get("declines") or {}).get(replaces)
            if decline and decline["state"] == "pending":
                decline["state"] = "accepted"
        (issue.get("ended") or {}).pop(department, None)
        (issue.get("declines") or {}).pop(department, None)
        issue["reports"].pop(department, None)
        issue.setdefault("due", {})[department] = dict(
            report_due_at=report_due_at, resolve_due_at=resolve_due_at, cycle=issue["reopened"])

    def request_extension(self, *, issue_id: str, department: str, until: datetime,
                          reason: str, at: datetime) -> None:
        """延期: the department asks for a later resolution deadline."""
        issue = self.issue(issue_id)
        self._active(issue, department)
        self._open(issue)
        pending = (issue.get("extensions") or {}).get(department)
        if pending and pending["state"] == "pending":
            if pending["until"] == until and pending["reason"] == reason:
                return
            raise RuleBroken(f"department {department} already awaits a decision on an extension")
        if until <= self.resolve_due_of(issue, department):
            raise RuleBroken("an extension must end after the current resolution deadline")
        self._extension_requested(issue_id=issue_id, department=department, until=until,
                                  reason=reason, at=at)

    @event("ExtensionRequested")
    def _extension_requested(self, issue_id: str, department: str, until: datetime,
                             reason: str, at: datetime) -> None:
        self.issues[issue_id].setdefault("extensions", {})[department] = dict(
            until=until, reason=reason, at=at, state="pending")

    def decide_extension(self, *, issue_id: str, department: str, approve: bool, official: str,
                         note: str | None, at: datetime) -> None:
        request = (self.issue(issue_id).get("extensions") or {}).get(department)
        if self._decided(issue_id, "extension", department, "approved" if approve else "refused"):
            return
        if approve:
            self._extension_approved(issue_id=issue_id, department=department,
                                     until=request["until"], official=official, note=note, at=at)
        else:
            self._extension_refused(issue_id=issue_id, department=department, official=official,
                                    note=note, at=at)

    @event("ExtensionApproved")
    def _extension_approved(self, issue_id: str, department: str, until: datetime,
                            official: str, note: str | None, at: datetime) -> None:
        issue = self.issues[issue_id]
        issue["extensions"][department]["state"] = "approved"
        own = issue.setdefault("due", {}).setdefault(department, {})
        own.update(resolve_due_at=until, cycle=issue["reopened"])

    @event("ExtensionRefused")
    def _extension_refused(self, issue_id: str, department: str, official: str,
                           note: str | None, at: datetime) -> None:
        self.issues[issue_id]["extensions"][department]["state"] = "refused"

    def close_as_duplicate(self, *, issue_id: str, duplicate_of: str, official: str,
                           reason: str | None, at: datetime) -> None:
        issue = self.issue(issue_id)
        original = self.issue(duplicate_of)
        if issue_id == duplicate_of:
            raise RuleBroken("an issue cannot duplicate itself")
        if issue["status"] == "duplicate":
            if issue.get("duplicate_of") == duplicate_of:
                return
            raise RuleBroken(f"issue {issue_id} is already a duplicate of "
                             f"{issue.get('duplicate_of')}")
        if original["status"] == "duplicate":
            raise RuleBroken(f"issue {duplicate_of} is itself a duplicate; point to "
                             f"{original.get('duplicate_of')}")
        self._closed_as_duplicate(issue_id=issue_id, duplicate_of=duplicate_of,
                                  official=official, reason=reason, at=at)

    @event("IssueClosedAsDuplicate")
    def _closed_as_duplicate(self, issue_id: str, duplicate_of: str, official: str,
                             reason: str | None, at: datetime) -> None:
        issue = self.issues[issue_id]
        issue["status"] = "duplicate"
        issue["duplicate_of"] = duplicate_of

    # -- escalation ------------------------------------------------------
    def escalations_due(self, now: datetime) -> list[dict[str, Any]]:
        """The escalations that the deadlines call for at `now` and that were
        not yet recorded: one per summoned department not reported in time, and
        one per resolution cycle not resolved in time."""
        due = []
        for issue in self.issues.values():
            if issue["status"] == "duplicate":
                continue
            done = {e["key"] for e in issue["escalations"]}
            for department in issue["departments"]:
                key = f"not_reported:{department}"
                if (department not in issue["reports"]
                        and now >= self.report_due_of(issue, department) and key not in done):
                    due.append(dict(issue_id=issue["issue_id"], key=key,
                                    reason="not_reported", departments=[department]))
            key = f"not_resolved:{issue['reopened']}"
            # Only the departments whose own deadline (extensions) has passed.
            late = [d for d in issue["departments"] if now >= self.resolve_due_of(issue, d)]
            if issue["status"] == "open" and late and key not in done:
                due.append(dict(issue_id=issue["issue_id"], key=key, reason="not_resolved",
                                departments=late))
        return due

    def escalate(self, *, issue_id: str, at: datetime) -> int:
        """Records every escalation that is due for the issue; returns how many."""
        level = self.issue(issue_id)["level"]
        # Escalations found together raise the issue one level, not one each.
        up = ESCALATION_LEVELS[min(ESCALATION_LEVELS.index(level) + 1, len(ESCALATION_LEVELS) - 1)]
        due = [d for d in self.escalations_due(at) if d["issue_id"] == issue_id]
        for d in due:
            self._issue_escalated(issue_id=issue_id, key=d["key"], reason=d["reason"],
                                  departments=d["departments"], from_level=level,
                                  to_level=up, at=at)
        return len(due)

    @event("IssueEscalated")
    def _issue_escalated(self, issue_id: str, key: str, reason: str, departments: list[str],
                         from_level: str, to_level: str, at: datetime) -> None:
        issue = self.issues[issue_id]
        issue["level"] = to_level
        issue["escalations"].append(dict(key=key, reason=reason, departments=departments,
                                         from_level=from_level, to_level=to_level, at=at))

    # -- governance ------------------------------------------------------
    def hold_joint_meeting(self, *, meeting_id: str, held_on: str, attendees: list[dict],
                           issues_discussed: list[str], decisions: list[dict],
                           at: datetime) -> None:
        for issue_id in issues_discussed:
            self.issue(issue_id)
        for d in decisions:
            if d.get("issue_id"):
                self.issue(d["issue_id"])
        fields = dict(held_on=held_on, attendees=attendees, issues_discussed=issues_discussed,
                      decisions=decisions)
        if is_repeat(self.fingerprints, f"meeting {meeting_id}", fields):
            return
        self._joint_meeting_held(meeting_id=meeting_id, held_on=held_on, attendees=attendees,
                                 issues_discussed=issues_discussed, decisions=decisions,
                                 fingerprint=fingerprint(fields), at=at)

    @event("JointMeetingHeld")
    def _joint_meeting_held(self, meeting_id: str, held_on: str, attendees: list[dict],
                            issues_discussed: list[str], decisions: list[dict],
                            fingerprint: str, at: datetime) -> None:
        self.fingerprints[f"meeting {meeting_id}"] = fingerprint
        for d in decisions:
            self.decisions.append(dict(d, meeting_id=meeting_id, held_on=held_on))

    def elect_committee(self, *, term_start: str, term_end: str, members: list[dict],
                        at: datetime) -> None:
        if term_end <= term_start:
            raise RuleBroken("a committee term must end after it starts")
        if not members:
            raise RuleBroken("a committee has at least one member")
        for m in members:
            if not m.get("role") or not isinstance(m.get("party_member"), bool):
                raise RuleBroken("every committee member has a role and a party flag")
        fields = dict(term_start=term_start, term_end=term_end, members=members)
        if is_repeat(self.fingerprints, f"election {term_start}", fields):
            return
        party = sum(1 for m in members if m["party_member"])
        # 原则上不少于半数: accepted, but flagged on agendas and reports.
        self._owners_committee_elected(
            term_start=term_start, term_end=term_end, members=members,
            party_members=party, party_below_half=2 * party < len(members),
            cross_appointed=sum(1 for m in members if m.get("cross_appointed")),
            fingerprint=fingerprint(fields), at=at)

    @event("OwnersCommitteeElected")
    def _owners_committee_elected(self, term_start: str, term_end: str, members: list[dict],
                                  party_members: int, party_below_half: bool,
                                  cross_appointed: int, fingerprint: str,
                                  at: datetime) -> None:
        self.fingerprints[f"election {term_start}"] = fingerprint
        self.committee = dict(term_start=term_start, term_end=term_end, members=members,
                              party_members=party_members, party_below_half=party_below_half,
                              cross_appointed=cross_appointed, elected_at=at)

    def survey_satisfaction(self, *, survey_id: str, year: int, surveyed_on: str,
                            respondents: int, score: float, at: datetime) -> None:
        if not 0 <= score <= 100:
            raise RuleBroken("a survey score lies between 0 and 100")
        if respondents < 1:
            raise RuleBroken("a survey has at least one respondent")
        company = (self.property_contract or {}).get("company_code")
        fields = dict(year=year, surveyed_on=surveyed_on, respondents=respondents, score=score)
        if is_repeat(self.fingerprints, f"survey {survey_id}", fields):
            return
        self._satisfaction_surveyed(survey_id=survey_id, year=year, surveyed_on=surveyed_on,
                                    respondents=respondents, score=score,
                                    company_code=company, fingerprint=fingerprint(fields), at=at)

    @event("SatisfactionSurveyed")
    def _satisfaction_surveyed(self, survey_id: str, year: int, surveyed_on: str,
                               respondents: int, score: float, company_code: str | None,
                               fingerprint: str, at: datetime) -> None:
        self.fingerprints[f"survey {survey_id}"] = fingerprint

    def record_incident(self, *, incident_id: str, kind: str, occurred_on: str,
                        description: str, company_code: str | None, at: datetime) -> None:
        if kind not in INCIDENT_KINDS:
            raise RuleBroken(f"incident kind must be one of {', '.join(INCIDENT_KINDS)}")
        company = company_code or (self.property_contract or {}).get("company_code")
        fields = dict(kind=kind, occurred_on=occurred_on, description=description,
                      company_code=company)
        if is_repeat(self.fingerprints, f"incident {incident_id}", fields):
            return
        self._incident_recorded(incident_id=incident_id, kind=kind, occurred_on=occurred_on,
                                description=description, company_code=company,
                                fingerprint=fingerprint(fields), at=at)

    @event("IncidentRecorded")
    def _incident_recorded(self, incident_id: str, kind: str, occurred_on: str,
                           description: str, company_code: str | None, fingerprint: str,
                           at: datetime) -> None:
        self.fingerprints[f"incident {incident_id}"] = fingerprint

    # -- reading ---------------------------------------------------------
    def open_issues(self) -> list[dict[str, Any]]:
        return [i for i in self.issues.values() if i["status"] == "open"]


def _location(latitude: float | None, longitude: float | None, address: str | None,
              zipcode: str | None) -> dict[str, Any] | None:
    """A compound's location: WGS-84 degrees (not the GCJ-02 of Chinese map
    apps; docs/open311.md), an address, a postal code; None when all are absent."""
    if (latitude is None) != (longitude is None):
        raise RuleBroken("a location gives both latitude and longitude, or neither")
    if latitude is not None and not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise RuleBroken("latitude lies within ±90 and longitude within ±180 degrees")
    if latitude is None and not address and not zipcode:
        return None
    return dict(latitude=None if latitude is None else float(latitude),
                longitude=None if longitude is None else float(longitude),
                address=address or None, zipcode=zipcode or None)


def _registration_fingerprint(fields: dict[str, Any], location: dict[str, Any] | None) -> str:
    # Without a location, the fingerprint is the one registrations had before
    # locations existed, so their repeats are still recognised.
    return fingerprint(fields if location is None else dict(fields, location=location))
