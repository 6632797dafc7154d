"""Liveness, open to all: the store answers, and each background part's state."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import services
from consumers.relay import relay_lag
from projections.chain import chain_health
from projections.set_aside import count as set_aside_count
from service_layer.bootstrap import Services

router = APIRouter(tags=["health"])

# Feature modules add (name, function of Services returning a dict) here, e.g.
# the relay's lag; a failing probe shows as an error, it does not fail /health.
PROBES: list = [("relay", relay_lag), ("audit", chain_health), ("set_aside", set_aside_count)]


@router.get("/health")
@router.get("/v1/health")
def health(svc: Services = Depends(services)) -> dict:
    body: dict = {"status": "ok", "position": svc.app.recorder.max_notification_id() or 0}
    for name, probe in PROBES:
        try:
            body[name] = probe(svc)
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            body[name] = {"error": str(exc)}
    return body
