"""The API process's ceiling before any work is done, a baseline of figure 1.

`app()` is the API with one more route, `POST /floor/compounds/{code}/whistles`:
the whistle endpoint's body, auth and scope check and an answer of the same
size, but no use case and no store. The ingest bench drives it exactly as it
drives the real endpoint. (No `from __future__ import annotations`: FastAPI
must see the endpoint's types as types.)
"""
from typing import Any

from fastapi import Depends, FastAPI, Response
from pydantic_core import to_json

from api.app import create_app
from api.auth import check_at, check_grid, role, services
from api.schemas import WhistleIn
from service_layer.bootstrap import Services, bootstrap
from service_layer.tokens import Principal


def app() -> FastAPI:
    api = create_app(bootstrap(), close_services=True)

    @api.post("/floor/compounds/{code}/whistles", status_code=201)
    def whistle(code: str, body: WhistleIn, who: Principal = Depends(role("grid_worker")),
                svc: Services = Depends(services)) -> Response:
        check_at(who, body.at)
        check_grid(who, svc.governance.street_of(code), body.grid)
        answer: dict[str, Any] = dict(
            body.model_dump(), status="open", reports={}, progress=[], resolutions=[],
            ratings=[], escalations=[], compound_code=code, version=1, position=0, created=True)
        return Response(to_json(answer), status_code=201, media_type="application/json")

    return api
