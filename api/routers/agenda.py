"""Joint-meeting agendas per compound and per community, as JSON or CSV."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import READERS, check_sees_compound, role, sees_street, services
from api.presenters import STAFF_NAMES_HIDDEN_FROM, json_response
from api.readmodels import csv_response, fresh, wants_csv
from api.schemas import CodeInPath, Day, NameInPath
from api.responses import VIEW_ERRORS, Agenda, read
from projections.agenda.query import CSV_COLUMNS, agenda_for_community, agenda_for_compound, agenda_rows
from service_layer.bootstrap import Services
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1", tags=["agenda"])

MeetingOn = Annotated[Day, Query(description="the meeting date (local, UTC+8); the agenda is "
                                             "evaluated as of 00:00 of that day")]


def _answer(request: Request, agenda: dict[str, Any], filename: str) -> Response:
    if wants_csv(request):
        return csv_response(agenda_rows(agenda), filename, CSV_COLUMNS)
    return json_response(agenda)


def _for(who: Principal, agenda: dict[str, Any]) -> dict[str, Any]:
    """A department reads the items that name it (docs/access.md)."""
    if who.role == "department":
        items = [i for i in agenda["items"] if who.department in i["departments"]]
        for n, item in enumerate(items, start=1):
            item["order"] = n
        agenda["items"] = items
    return agenda


def _within(who: Principal):
    """The compounds of a community that `who` may see, as `within(code,
    street)` for agenda_for_community; None when it sees them all. A grid
    worker scoped to grids alone has no community: the view knows no grids,
    and loading each compound while the agenda's transaction holds a
    connection could exhaust the pool."""
    if who.role not in ("official", "grid_worker") or not (who.street or who.grids):
        return None
    if who.role == "grid_worker" and not who.street:
        return lambda code, street: False
    return lambda code, street: sees_street(who, street)


@router.get("/compounds/{code}/agenda", response_model=None,
            responses=read(Agenda, VIEW_ERRORS, csv=True))
def compound_agenda(code: CodeInPath, request: Request, meeting_on: MeetingOn,
                    who: Principal = Depends(role(*READERS)), __: None = Depends(fresh),
                    svc: Services = Depends(services)) -> Any:
    check_sees_compound(who, svc, code)
    agenda = agenda_for_compound(svc.log, "", code, meeting_on,
                                 owners=who.role not in STAFF_NAMES_HIDDEN_FROM)
    return _answer(request, _for(who, agenda), f"agenda-{code}-{meeting_on.isoformat()}.csv")


@router.get("/communities/{community}/agenda", response_model=None,
            responses=read(Agenda, VIEW_ERRORS, csv=True))
def community_agenda(community: NameInPath, request: Request, meeting_on: MeetingOn,
                     who: Principal = Depends(role(*READERS)), __: None = Depends(fresh),
                     svc: Services = Depends(services)) -> Any:
    agenda = agenda_for_community(svc.log, "", community, meeting_on,
                                  owners=who.role not in STAFF_NAMES_HIDDEN_FROM,
                                  within=_within(who))
    return _answer(request, _for(who, agenda),
                   f"agenda-community-{meeting_on.isoformat()}.csv")
