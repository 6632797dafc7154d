"""Liveness, open to all: the store answers, and each background part's state."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import services
from api.responses import OPEN_ERRORS, Health, read
from consumers.relay import relay_lag
from projections.chain import chain_health
from service_layer.bootstrap import Services

router = APIRouter(tags=["health"])

# Feature modules add (name, function of Services returning a dict) here, e.g.
# the relay's lag; a failing probe shows as an error, it does not fail /health.
PROBES: list = [("relay", relay_lag), ("audit", chain_health)]


@router.get("/health", response_model=None, responses=read(Health, OPEN_ERRORS))
@router.get("/v1/health", response_model=None, responses=read(Health, OPEN_ERRORS))
def health(svc: Services = Depends(services)) -> dict:
    body: dict = {"status": "ok", "position": svc.app.recorder.max_notification_id() or 0}
    for name, probe in PROBES:
        try:
            body[name] = probe(svc)
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            body[name] = {"error": str(exc)}
    return body
