"""Auditors (and admin): the log in order, time travel, figures recomputed as
of a past moment, and the hash chain. Everyone else gets 403.

    GET /v1/audit/events?after=POS&limit=N        the global log, paged by position
    GET /v1/audit/compounds/{code}/events          one compound's stream
    GET /v1/audit/compounds/{code}?as_of=T|POS     the compound as it stood then
    GET /v1/audit/views                            the figures that can be recomputed
    GET /v1/audit/views/{name}?as_of=T|POS&...     a figure as of a past moment
    GET /v1/audit/chain                            chain head and the latest seals
    GET /v1/audit/verify                           recompute the chain (slow on a big log)

`as_of` is an ISO 8601 time (UTC when no zone is given) or a log position; a
time stands for the last position whose event was recorded at or before it.
"""
from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from api import presenters
from api.auth import role, services
from api.readmodels import csv_response, wants_csv
from api.schemas import CodeInPath
from api.responses import (ChainState, CompoundAsOf, CompoundLog, Figure, LogPage,
                           ViewQueries, Verification, read)
from audit import log, replay, verify as verification
from service_layer.bootstrap import Services
from adapters.limits import MAX_POSITION
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])
auditor = role("auditor")

RESERVED = ("as_of", "now", "format")

# A figure as of a moment rebuilds views from the log into scratch tables:
# costly, so this process builds one at a time and other requests wait.
_building = threading.Lock()


@router.get("/events", response_model=None, responses=read(LogPage))
def events(after: int = Query(0, ge=0, le=MAX_POSITION), limit: int = Query(100, ge=1, le=1000),
           _: Principal = Depends(auditor), svc: Services = Depends(services)) -> dict:
    return log.log_page(svc.chain, after, limit)


@router.get("/compounds/{code}/events", response_model=None, responses=read(CompoundLog))
def compound_events(code: CodeInPath, _: Principal = Depends(auditor),
                    svc: Services = Depends(services)) -> dict:
    return {"code": code, "events": log.compound_events(svc.chain, code)}


@router.get("/compounds/{code}", response_model=None, responses=read(CompoundAsOf))
def compound_as_of(code: CodeInPath,
                   as_of: str = Query(..., description="ISO time or log position"),
                   _: Principal = Depends(auditor),
                   svc: Services = Depends(services)) -> Response:
    compound, cut = log.compound_as_of(svc.chain, code, as_of)
    return presenters.json_response(dict(presenters.compound(compound), **cut.as_json()))


@router.get("/views", response_model=None, responses=read(ViewQueries))
def view_queries(_: Principal = Depends(auditor)) -> dict:
    return {"views": [{"name": q.name, "params": sorted(q.params), "required": list(q.required),
                       "doc": q.doc} for q in replay.queries().values()]}


@router.get("/views/{name}", response_model=None, responses=read(Figure, csv=True))
def view_as_of(name: str, request: Request, as_of: str | None = Query(None),
               now: str | None = Query(None, description="clock reading for the figure "
                                                         "(default: the as_of time)"),
               _: Principal = Depends(auditor),
               svc: Services = Depends(services)) -> Any:
    params = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    with _building:
        figure = replay.view_as_of(svc.chain, svc.settings, name, as_of, params, now=now)
    if wants_csv(request):
        query = replay.query_named(name)
        return csv_response(query.rows(figure["figure"]), f"{name}-{figure['position']}.csv",
                            list(query.columns) if query.columns else None)
    return presenters.json_response(figure)


@router.get("/chain", response_model=None, responses=read(ChainState))
def chain_state(_: Principal = Depends(auditor), svc: Services = Depends(services)) -> dict:
    chain = svc.chain
    position, digest = chain.head()
    seals = chain.stored_seals()
    return {"head": svc.app.recorder.max_notification_id() or 0, "chained": position,
            "digest": digest, "seals": len(seals),
            "latest_seals": [s.as_json() for s in seals[-10:]]}


@router.get("/verify", response_model=None, responses=read(Verification))
def verify(_: Principal = Depends(auditor), svc: Services = Depends(services)) -> Response:
    result = verification.verify(svc.chain)
    body = {"ok": result.ok, "head": result.head, "chained": result.chained,
            "events": result.events, "unchained": result.unchained,
            "seals_checked": result.seals_checked, "digest": result.digest,
            "first": vars(result.first) if result.first else None,
            "findings": [vars(f) for f in result.findings], "more": result.more}
    return JSONResponse(body)

