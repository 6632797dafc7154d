"""Property companies: registration, party organisation, annual evaluations."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api import presenters
from api.auth import READERS, check_at, forbid, role, services
from api.schemas import CodeInPath, CompanyIn, EvaluationIn, PartyOrganisationIn
from api.responses import CompanyOut, CompanyWritten, read as reads, written
from service_layer.bootstrap import Services
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1/companies", tags=["companies"])
official = role("official")


@router.post("", status_code=201, responses=written(CompanyWritten))
def register(body: CompanyIn, who: Principal = Depends(official),
             svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    outcome = svc.governance.register_company(code=body.code, name=body.name,
                                              party_organisation=body.party_organisation,
                                              at=body.at)
    return presenters.respond(outcome)


@router.get("/{code}", response_model=None, responses=reads(CompanyOut))
def read(code: CodeInPath, who: Principal = Depends(role(*READERS)),
         svc: Services = Depends(services)) -> dict:
    return presenters.company_for(who, svc.governance.company(code))


@router.post("/{code}/party-organisation", status_code=201,
             responses=written(CompanyWritten))
def establish_party_organisation(code: CodeInPath, body: PartyOrganisationIn,
                                 who: Principal = Depends(official),
                                 svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    outcome = svc.governance.establish_party_organisation(
        code, established_on=body.established_on.isoformat(), at=body.at)
    return presenters.respond(outcome)


@router.post("/{code}/evaluations", status_code=201,
             responses=written(CompanyWritten))
def evaluate(code: CodeInPath, body: EvaluationIn, who: Principal = Depends(official),
             svc: Services = Depends(services)) -> Response:
    check_at(who, body.at)
    if body.level == "district" and who.role == "official" and who.street:
        raise forbid(f"{who.name} is a street official; district evaluations come from the district")
    outcome = svc.governance.evaluate_company(code, year=body.year, level=body.level,
                                              scores=body.scores.model_dump(),
                                              evaluator=who.name, at=body.at)
    return presenters.respond(outcome)
