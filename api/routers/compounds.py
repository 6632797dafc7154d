"""Compounds and their governance facts: registration, property contracts,
owners' committee elections, joint meetings, surveys, incidents."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api import presenters
from api.auth import (READERS, check_at, check_street, forbid, role, sees_compound, services,
                      unknown_compound)
from api.schemas import (CodeInPath, CompoundIn, ContractIn, ElectionIn, IncidentIn, LocationIn,
                         MeetingIn, SurveyIn)
from api.responses import CompoundOut, CompoundWritten, read as reads, written
from service_layer.bootstrap import Services
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1/compounds", tags=["compounds"])
official = role("official")


@router.post("", status_code=201, responses=written(CompoundWritten))
def register(body: CompoundIn, who: Principal = Depends(official),
             svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    if who.role == "official" and who.street and who.street != body.street:
        raise forbid(f"{who.name} is scoped to street {who.street}, not {body.street}")
    outcome = svc.governance.register_compound(**body.model_dump(exclude={"at"}), at=body.at)
    return presenters.respond(outcome)


@router.get("/{code}", response_model=None, responses=reads(CompoundOut))
def read(code: CodeInPath, who: Principal = Depends(role(*READERS)),
         svc: Services = Depends(services)) -> dict:
    compound = svc.governance.compound(code)
    if not sees_compound(who, compound.street, compound.grids):
        raise unknown_compound(code)
    return presenters.compound_for(who, compound)


def _scoped(svc: Services, who: Principal, code: str, at) -> None:
    check_at(who, at)
    check_street(who, svc.governance.street_of(code))


@router.post("/{code}/location", status_code=201, responses=written(CompoundWritten))
def locate(code: CodeInPath, body: LocationIn, who: Principal = Depends(official),
           svc: Services = Depends(services)) -> Response:
    _scoped(svc, who, code, body.at)
    outcome = svc.governance.locate_compound(code, **body.model_dump(exclude={"at"}),
                                             at=body.at)
    return presenters.respond(outcome)


@router.post("/{code}/property-contracts", status_code=201, responses=written(CompoundWritten))
def contract(code: CodeInPath, body: ContractIn, who: Principal = Depends(official),
             svc: Services = Depends(services)) -> Response:
    _scoped(svc, who, code, body.at)
    outcome = svc.governance.contract_property_company(
        code, company_code=body.company_code, starts_on=body.starts_on.isoformat(),
        ends_on=body.ends_on.isoformat(), at=body.at)
    return presenters.respond(outcome)


@router.post("/{code}/committee-elections", status_code=201, responses=written(CompoundWritten))
def elect(code: CodeInPath, body: ElectionIn, who: Principal = Depends(official),
          svc: Services = Depends(services)) -> Response:
    _scoped(svc, who, code, body.at)
    outcome = svc.governance.elect_committee(
        code, term_start=body.term_start.isoformat(), term_end=body.term_end.isoformat(),
        members=[m.model_dump() for m in body.members], at=body.at)
    return presenters.respond(outcome)


@router.post("/{code}/joint-meetings", status_code=201, responses=written(CompoundWritten))
def meet(code: CodeInPath, body: MeetingIn, who: Principal = Depends(official),
         svc: Services = Depends(services)) -> Response:
    _scoped(svc, who, code, body.at)
    decisions = [dict(d.model_dump(mode="json")) for d in body.decisions]
    outcome = svc.governance.hold_joint_meeting(
        code, meeting_id=str(body.meeting_id), held_on=body.held_on.isoformat(),
        attendees=[a.model_dump() for a in body.attendees],
        issues_discussed=[str(i) for i in body.issues_discussed], decisions=decisions,
        at=body.at)
    return presenters.respond(outcome, meeting_id=str(body.meeting_id))


@router.post("/{code}/surveys", status_code=201, responses=written(CompoundWritten))
def survey(code: CodeInPath, body: SurveyIn, who: Principal = Depends(official),
           svc: Services = Depends(services)) -> Response:
    _scoped(svc, who, code, body.at)
    outcome = svc.governance.survey_satisfaction(
        code, survey_id=str(body.survey_id), year=body.year,
        surveyed_on=body.surveyed_on.isoformat(), respondents=body.respondents,
        score=body.score, at=body.at)
    return presenters.respond(outcome, survey_id=str(body.survey_id))


@router.post("/{code}/incidents", status_code=201, responses=written(CompoundWritten))
def incident(code: CodeInPath, body: IncidentIn, who: Principal = Depends(official),
             svc: Services = Depends(services)) -> Response:
    _scoped(svc, who, code, body.at)
    outcome = svc.governance.record_incident(
        code, incident_id=str(body.incident_id), kind=body.kind,
        occurred_on=body.occurred_on.isoformat(), description=body.description,
        company_code=body.company_code, at=body.at)
    return presenters.respond(outcome, incident_id=str(body.incident_id))
