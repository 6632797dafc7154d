"""The response-rate dashboard (docs/dashboard.md), open to every reader."""
from __future__ import annotations

import threading
from datetime import datetime, time, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import READERS, role, services
from api.presenters import json_response
from api.readmodels import csv_response, fresh, wants_csv
from projections.dashboard.calendar import LOCAL_TZ
from api.responses import VIEW_ERRORS, Dashboard, read
from audit.replay import dashboard_as_of
from projections.dashboard.query import COLUMNS, query
from projections.moments import parse_bound
from service_layer.bootstrap import Services
from service_layer.governance import InvalidField
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

# An as_of query rebuilds the view from the log into scratch tables: costly,
# so this process runs one at a time and the others wait their turn.
_as_of_turn = threading.Lock()


def _bound(field: str, text: str):
    try:
        return parse_bound(text)
    except ValueError as exc:
        raise InvalidField(field, str(exc)) from None


def _stamp(moment: datetime, last_day: bool = False) -> str:
    """A bound in a file name: its local date if at local midnight (for the
    exclusive end, the day before: the last day counted), else the local time."""
    local = moment.astimezone(LOCAL_TZ)
    if local.time() == time(0):
        return (local.date() - timedelta(days=1 if last_day else 0)).isoformat()
    return local.strftime("%Y-%m-%dT%H%M%S")


def csv_name(by: str, start: datetime, end: datetime, as_of: datetime | None) -> str:
    """e.g. response-rates_by-street_2026-01-01_2026-03-31_as-of-2026-04-01T080000.csv"""
    name = f"response-rates_by-{by}_{_stamp(start)}_{_stamp(end, last_day=True)}"
    return name + (f"_as-of-{_stamp(as_of)}" if as_of else "") + ".csv"


@router.get("/response-rates", response_model=None,
            responses=read(Dashboard, VIEW_ERRORS, csv=True))
def response_rates(
        request: Request,
        from_: str = Query(..., alias="from", description="date (local midnight, UTC+8) or "
                                                          "datetime with timezone; inclusive"),
        to: str = Query(..., description="date or datetime; exclusive"),
        by: Literal["department", "street", "community", "compound"] = "department",
        as_of: str | None = Query(None, description="the figures as recorded by this moment"),
        format: Literal["json", "csv"] | None = Query(None),  # noqa: A002 - read by wants_csv
        _: Principal = Depends(role(*READERS)), __: None = Depends(fresh),
        svc: Services = Depends(services)) -> Response:
    start, end = _bound("from", from_), _bound("to", to)
    if not start < end:
        raise InvalidField("to", "must be later than from")
    w = svc.settings.three_rates_weights
    if as_of is None:
        now = svc.governance.clock()
        rows, position = query(svc.log, "", start, end, by, now, svc.settings.departments, w)
    else:
        now = _bound("as_of", as_of)
        with _as_of_turn:
            rows, position = dashboard_as_of(svc.chain, start, end, by, now, svc.settings)
    if wants_csv(request):
        return csv_response(rows, csv_name(by, start, end, now if as_of else None), COLUMNS)
    return json_response({
        "from": start.isoformat(), "to": end.isoformat(), "by": by, "now": now.isoformat(),
        "as_of": now.isoformat() if as_of else None, "position": position,
        "weights": dict(response=w[0], resolution=w[1], satisfaction=w[2]), "rows": rows})
