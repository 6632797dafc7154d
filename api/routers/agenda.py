"""Joint-meeting agendas per compound and per community, as JSON or CSV."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import READERS, role, services
from api.presenters import json_response
from api.readmodels import csv_response, fresh, wants_csv
from api.schemas import CodeInPath, Day, NameInPath
from api.responses import VIEW_ERRORS, Agenda, read
from projections.agenda import CSV_COLUMNS, agenda_for_community, agenda_for_compound, agenda_rows
from service_layer.bootstrap import Services
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1", tags=["agenda"])

MeetingOn = Annotated[Day, Query(description="the meeting date (local, UTC+8); the agenda is "
                                             "evaluated as of 00:00 of that day")]


def _answer(request: Request, agenda: dict[str, Any], filename: str) -> Response:
    if wants_csv(request):
        return csv_response(agenda_rows(agenda), filename, CSV_COLUMNS)
    return json_response(agenda)


@router.get("/compounds/{code}/agenda", response_model=None,
            responses=read(Agenda, VIEW_ERRORS, csv=True))
def compound_agenda(code: CodeInPath, request: Request, meeting_on: MeetingOn,
                    _: Principal = Depends(role(*READERS)), __: None = Depends(fresh),
                    svc: Services = Depends(services)) -> Any:
    agenda = agenda_for_compound(svc, "", code, meeting_on)
    return _answer(request, agenda, f"agenda-{code}-{meeting_on.isoformat()}.csv")


@router.get("/communities/{community}/agenda", response_model=None,
            responses=read(Agenda, VIEW_ERRORS, csv=True))
def community_agenda(community: NameInPath, request: Request, meeting_on: MeetingOn,
                     _: Principal = Depends(role(*READERS)), __: None = Depends(fresh),
                     svc: Services = Depends(services)) -> Any:
    agenda = agenda_for_community(svc, "", community, meeting_on)
    return _answer(request, agenda, f"agenda-community-{meeting_on.isoformat()}.csv")
