"""Liveness and readiness, open to all, answered within a second.

`GET /health`: the process answers and whether the store does (200 either
way: the process is alive). With an admin or auditor token it adds the
details: the log's position and each background part's state (the relay's
lag, the audit chain's last seal). `GET /v1/ready`: 200 when the store
answers, else 503; what is configured and how far behind the log it is.
Each question to the store runs in a thread with a time limit, and one
probe at a time: a store that does not answer costs one waiting thread,
not one per caller."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import services
from api.errors import problem
from api.responses import OPEN_ERRORS, Health, Ready, read
from consumers.relay import relay_lag
from audit.sealer import chain_health
from projections.registry import all_views
from projections.feed import views_position
from projections.set_aside import count as set_aside_count
from service_layer.bootstrap import Services

router = APIRouter(tags=["health"])

# Feature modules add (name, function of Services returning a dict) here, e.g.
# the relay's lag; a failing probe shows as an error, it does not fail /health.
# Shown only to the roles of DETAILED.
PROBES: list = [("relay", lambda svc: relay_lag(svc.app, svc.relay_store)),
                ("audit", lambda svc: chain_health(svc.chain)),
                ("set_aside", lambda svc: set_aside_count(svc.log))]
DETAILED = ("admin", "auditor")
TIME_LIMIT = 1.0  # seconds for the store's answer

_bearer = HTTPBearer(auto_error=False)


async def _in_time(request: Request, name: str, ask: Callable[[], Any]) -> Any:
    """`ask()` in a thread, awaited at most TIME_LIMIT; a question still
    running is joined, not asked again. Raises TimeoutError or its error."""
    running: dict | None = getattr(request.app.state, "health_questions", None)
    if running is None:
        running = request.app.state.health_questions = {}
    task = running.get(name)
    if task is None:
        task = running[name] = asyncio.ensure_future(asyncio.to_thread(ask))
        task.add_done_callback(lambda _: running.pop(name, None))
    return await asyncio.wait_for(asyncio.shield(task), TIME_LIMIT)


async def _head(request: Request, svc: Services) -> int | None:
    """The log's position, or None when the store does not answer in time."""
    try:
        return await _in_time(request, "head", svc.app.recorder.max_notification_id) or 0
    except Exception:  # noqa: BLE001 - unreachable, timed out: the same to a probe
        return None


async def _detailed(request: Request, svc: Services,
                    credentials: HTTPAuthorizationCredentials | None) -> bool:
    if credentials is None or credentials.scheme.lower() != "bearer":
        return False
    try:
        who = await _in_time(request, f"token {credentials.credentials}",
                             lambda: svc.tokens.principal(credentials.credentials))
    except Exception:  # noqa: BLE001 - no store, no details
        return False
    return who is not None and who.role in DETAILED


@router.get("/health", response_model=None, responses=read(Health, OPEN_ERRORS))
@router.get("/v1/health", response_model=None, responses=read(Health, OPEN_ERRORS))
async def health(request: Request, svc: Services = Depends(services),
                 credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> dict:
    head = await _head(request, svc)
    body: dict = {"status": "ok", "store": "reachable" if head is not None else "unreachable"}
    if head is None or not await _detailed(request, svc, credentials):
        return body
    body["position"] = head
    for name, probe in PROBES:
        try:
            body[name] = await _in_time(request, name, lambda probe=probe: probe(svc))
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            body[name] = {"error": str(exc) or type(exc).__name__}
    return body


@router.get("/v1/ready", response_model=None, responses=read(Ready, OPEN_ERRORS))
async def ready(request: Request, svc: Services = Depends(services)) -> Response:
    head = await _head(request, svc)
    if head is None:
        return problem(503, "the store does not answer", headers={"Retry-After": "5"},
                       ready=False, store="unreachable")
    body: dict = {"ready": True, "store": "reachable"}
    try:
        views = await _in_time(request, "views", lambda: views_position(svc.log, all_views()))
        body["views"] = {"positions_behind": max(0, head - views)}
    except Exception as exc:  # noqa: BLE001 - reported, the store itself answered
        body["views"] = {"error": str(exc) or type(exc).__name__}
    if not svc.settings.kafka_bootstrap_servers:
        body["relay"] = "not configured"
    else:
        try:
            lag = await _in_time(request, "relay", lambda: relay_lag(svc.app, svc.relay_store))
            body["relay"] = {k: lag[k] for k in ("positions_behind", "seconds_behind")}
        except Exception as exc:  # noqa: BLE001
            body["relay"] = {"error": str(exc) or type(exc).__name__}
    return JSONResponse(body)
