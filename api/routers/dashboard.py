"""The response-rate dashboard (docs/dashboard.md), open to every reader."""
from __future__ import annotations

import threading
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import READERS, role, services
from api.presenters import json_response
from api.readmodels import csv_response, fresh, wants_csv
from api.responses import VIEW_ERRORS, Dashboard, read
from projections.dashboard_query import COLUMNS, parse_bound, query, response_rates_as_of, weights
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
    if as_of is None:
        now = svc.governance.clock()
        rows, position = query(svc, "", start, end, by, now)
    else:
        now = _bound("as_of", as_of)
        with _as_of_turn:
            rows, position = response_rates_as_of(svc, start, end, by, now)
    if wants_csv(request):
        return csv_response(rows, f"response-rates-by-{by}.csv", COLUMNS)
    w = weights()
    return json_response({
        "from": start.isoformat(), "to": end.isoformat(), "by": by, "now": now.isoformat(),
        "as_of": now.isoformat() if as_of else None, "position": position,
        "weights": dict(response=w[0], resolution=w[1], satisfaction=w[2]), "rows": rows})
