"""Whistles and the life of an issue: report-in, progress, resolution, rating."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api import presenters
from api.auth import (READERS, check_at, check_department, check_grid, check_street, role,
                      sees_compound, sees_issue, services, unknown_compound, unknown_issue)
from api.queue_schemas import (DeclineIn, DecisionOnDeclineIn, DecisionOnExtensionIn,
                               DuplicateIn, ExtensionIn, SummonIn)
from api.schemas import CodeInPath, ProgressIn, RatingIn, ReportIn, ResolutionIn, WhistleIn
from service_layer.governance import InvalidField
from api.responses import IssueOut, IssueWritten, read as reads, written
from service_layer.bootstrap import Services
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1/compounds/{code}", tags=["issues"])
ISSUE_WRITTEN = written(IssueWritten)  # what every write of an issue answers
grid_worker = role("grid_worker")
department = role("department")


@router.post("/whistles", status_code=201, responses=ISSUE_WRITTEN)
def blow_whistle(code: CodeInPath, body: WhistleIn,
                 who: Principal = Depends(grid_worker),
                 svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    check_grid(who, svc.governance.street_of(code), body.grid)
    issue_id = str(body.issue_id)
    outcome = svc.governance.blow_whistle(
        code, grid_worker=who.name, issue_id=issue_id, category=body.category,
        description=body.description, departments=body.departments, urgency=body.urgency,
        source=body.source, grid=body.grid, building=body.building, unit=body.unit, at=body.at)
    return presenters.respond(outcome)


@router.get("/issues/{issue_id}", response_model=None, responses=reads(IssueOut))
def read_issue(code: CodeInPath, issue_id: CodeInPath, who: Principal = Depends(role(*READERS)),
               svc: Services = Depends(services)) -> dict:
    compound = svc.governance.compound(code)
    if not sees_compound(who, compound.street, compound.grids):
        raise unknown_compound(code)
    if not sees_issue(who, compound.issue(issue_id)):
        raise unknown_issue(code, issue_id)
    return presenters.issue_for(who, compound, issue_id)


@router.post("/issues/{issue_id}/reports", status_code=201, responses=ISSUE_WRITTEN)
def report_in(code: CodeInPath, issue_id: CodeInPath, body: ReportIn,
              who: Principal = Depends(department),
              svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    check_department(who, body.department)
    outcome = svc.governance.report_in(code, issue_id, department=body.department,
                                       officer=body.officer, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/progress", status_code=201, responses=ISSUE_WRITTEN)
def note_progress(code: CodeInPath, issue_id: CodeInPath, body: ProgressIn,
                  who: Principal = Depends(department),
                  svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    check_department(who, body.department)
    outcome = svc.governance.note_progress(code, issue_id, department=body.department,
                                           note=body.note, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/resolution", status_code=201, responses=ISSUE_WRITTEN)
def resolve(code: CodeInPath, issue_id: CodeInPath, body: ResolutionIn,
            who: Principal = Depends(department),
            svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    check_department(who, body.department)
    outcome = svc.governance.resolve(code, issue_id, department=body.department,
                                     how=body.how, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/ratings", status_code=201, responses=ISSUE_WRITTEN)
def rate(code: CodeInPath, issue_id: CodeInPath, body: RatingIn,
         who: Principal = Depends(grid_worker),
         svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    compound = svc.governance.compound(code)
    check_grid(who, compound.street, compound.issue(issue_id)["grid"])
    outcome = svc.governance.rate(code, issue_id, rating=body.rating, comment=body.comment,
                                  rated_by=who.name, at=body.at)
    return presenters.respond(outcome)


# -- push-back (issue 14): departments decline or ask for time, officials decide --
official = role("official")


def _own_department(who: Principal, given: str | None) -> str:
    """A department token acts for its own department: the body's may be left
    out and must match when given. Admin must name one."""
    if who.role == "department":
        if given is not None:
            check_department(who, given)
        return who.department or ""
    if given is None:
        raise InvalidField("department", "required unless a department's token is used")
    return given


def _official_scope(svc: Services, who: Principal, code: str, at) -> None:
    check_at(who, at)
    check_street(who, svc.governance.street_of(code))


@router.post("/issues/{issue_id}/declines", status_code=201, responses=ISSUE_WRITTEN)
def decline(code: CodeInPath, issue_id: CodeInPath, body: DeclineIn, who: Principal = Depends(department),
            svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    outcome = svc.governance.decline(code, issue_id,
                                     department=_own_department(who, body.department),
                                     reason=body.reason, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/decline-decisions", status_code=201, responses=ISSUE_WRITTEN)
def decide_decline(code: CodeInPath, issue_id: CodeInPath, body: DecisionOnDeclineIn,
                   who: Principal = Depends(official),
                   svc: Services = Depends(services)) -> Response:
    _official_scope(svc, who, code, body.at)
    outcome = svc.governance.decide_decline(code, issue_id, department=body.department,
                                            accept=body.accept, official=who.name,
                                            note=body.note, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/summonses", status_code=201, responses=ISSUE_WRITTEN)
def summon(code: CodeInPath, issue_id: CodeInPath, body: SummonIn, who: Principal = Depends(official),
           svc: Services = Depends(services)) -> Response:
    _official_scope(svc, who, code, body.at)
    outcome = svc.governance.summon_department(code, issue_id, department=body.department,
                                               replaces=body.replaces, official=who.name,
                                               reason=body.reason, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/extensions", status_code=201, responses=ISSUE_WRITTEN)
def request_extension(code: CodeInPath, issue_id: CodeInPath, body: ExtensionIn,
                      who: Principal = Depends(department),
                      svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    outcome = svc.governance.request_extension(
        code, issue_id, department=_own_department(who, body.department), until=body.until,
        reason=body.reason, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/extension-decisions", status_code=201, responses=ISSUE_WRITTEN)
def decide_extension(code: CodeInPath, issue_id: CodeInPath, body: DecisionOnExtensionIn,
                     who: Principal = Depends(official),
                     svc: Services = Depends(services)) -> Response:
    _official_scope(svc, who, code, body.at)
    outcome = svc.governance.decide_extension(code, issue_id, department=body.department,
                                              approve=body.approve, official=who.name,
                                              note=body.note, at=body.at)
    return presenters.respond(outcome)


@router.post("/issues/{issue_id}/duplicate", status_code=201, responses=ISSUE_WRITTEN)
def close_as_duplicate(code: CodeInPath, issue_id: CodeInPath, body: DuplicateIn,
                       who: Principal = Depends(official),
                       svc: Services = Depends(services)) -> Response:
    _official_scope(svc, who, code, body.at)
    outcome = svc.governance.close_as_duplicate(code, issue_id,
                                                duplicate_of=str(body.duplicate_of),
                                                official=who.name, reason=body.reason,
                                                at=body.at)
    return presenters.respond(outcome)
