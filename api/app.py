"""The FastAPI application. Endpoints are plain `def`: the eventsourcing
library is synchronous, so they run in FastAPI's threadpool."""
from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import docs_pages, errors, responses, security_headers
from api.charset import Utf8Only
from api.limits import BodyLimitMiddleware, StoreGate, StoreGateMiddleware
from api.routers import agenda, audit, companies, compounds, dashboard, health, issues, rankings
from api.routers import lists, open311
from service_layer.bootstrap import Services

ROUTERS = [health.router, compounds.router, issues.router, companies.router, dashboard.router,
           agenda.router, rankings.router, audit.router, lists.router]
ROUTERS.append(open311.router)  # Open311 GeoReport v2 (docs/open311.md)


def create_app(services: Services, workers: list | None = None,
               close_services: bool = False) -> FastAPI:
    """`workers` are background parts (projection runners, deadline watcher)
    with start() and stop(), run for the app's lifetime; `close_services`
    closes the store's connections when the app stops."""

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        for w in workers or []:
            w.start()
        try:
            yield
        finally:
            for w in reversed(workers or []):
                w.stop()
            if close_services:
                services.close()

    app = FastAPI(title="Red Whistle", version="0.1.0", lifespan=lifespan,
                  description="Event-sourced coordination of residential compound governance.",
                  docs_url=None, redoc_url=None)  # served from api/static/ by docs_pages
    app.state.services = services
    docs_pages.install(app)
    errors.install(app)
    app.state.store_gate = StoreGate(lambda: services.db.fetchall("SELECT 1"))
    app.add_middleware(StoreGateMiddleware, gate=app.state.store_gate,
                       refuse=errors.store_unavailable)
    app.add_middleware(BodyLimitMiddleware, max_bytes=services.settings.max_body_bytes,
                       refuse=errors.too_large)
    app.add_middleware(Utf8Only)
    security_headers.install(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = responses.document_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi
    for router in ROUTERS:
        app.include_router(router)
    return app


# The compounds kept in memory between writes are hundreds of thousands of
# dicts and lists that every full collection walks: with the default
# thresholds those pauses dominate ingest's tail latency (bench/README.md,
# "Figures behind the code's choices"). Young garbage is still collected
# every 100,000 allocations; the old generations seldom.
GC_THRESHOLD = (100_000, 50, 100)


def app_from_env() -> FastAPI:
    """What each process of `redwhistle serve` runs (uvicorn's factory): the
    API alone, on the settings of the environment."""
    from service_layer.bootstrap import bootstrap
    gc.set_threshold(*GC_THRESHOLD)
    return create_app(bootstrap(api=True), close_services=True)
