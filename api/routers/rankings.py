"""Annual rankings of property companies (金牌红色物业, 红黑榜), as JSON or CSV."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from api.auth import READERS, role, services
from api.presenters import json_response
from api.readmodels import csv_response, fresh, wants_csv
from api.responses import VIEW_ERRORS, Rankings, read
from projections.rankings.query import CSV_COLUMNS, ranking_rows, rankings
from service_layer.bootstrap import Services
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1/rankings", tags=["rankings"])


@router.get("/{year}", response_model=None, responses=read(Rankings, VIEW_ERRORS, csv=True))
def annual_rankings(request: Request, year: int = Path(..., ge=2000, le=2100),
                    _: Principal = Depends(role(*READERS)), __: None = Depends(fresh),
                    svc: Services = Depends(services)) -> Any:
    result = rankings(svc.log, "", year)
    if wants_csv(request):
        return csv_response(ranking_rows(result), f"rankings-{year}.csv", CSV_COLUMNS)
    return json_response(result)
