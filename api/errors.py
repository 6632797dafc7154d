"""Errors as JSON, each naming what was wrong:
422 {"error": "invalid", "fields": [{"field", "reason"}]}, 404 not_found,
409 rule_broken (with the rule in words), 401/403 from auth, 413 too_large,
503 contention and 503 store_unavailable (the database did not answer, or a
statement or lock wait passed its timeout)."""
from __future__ import annotations

import logging
import sqlite3

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.limits import is_unreachable
from domain.exceptions import RuleBroken, UnknownFact
from service_layer.governance import InvalidField, TooMuchContention
from service_layer.group_commit import EventTooLarge

# The store's connection and timeout errors as each layer raises them: the
# event store's (psycopg's and sqlite3's, translated), and psycopg's,
# psycopg_pool's PoolTimeout and sqlite3's where they come through untranslated.
log = logging.getLogger("redwhistle.api")

STORE_UNAVAILABLE = (OperationalError, InterfaceError, psycopg.OperationalError,
                     psycopg.InterfaceError, sqlite3.OperationalError)


def invalid(fields: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"error": "invalid", "fields": fields})


def store_unavailable() -> JSONResponse:
    return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                        content={"error": "store_unavailable",
                                 "detail": "the store did not answer in time; retry"})


def too_large(detail: str) -> JSONResponse:
    return JSONResponse(status_code=413, content={"error": "too_large", "detail": detail})


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
            fields.append({"field": ".".join(loc) or "body", "reason": e.get("msg", "invalid")})
        return invalid(fields)

    @app.exception_handler(InvalidField)
    async def _invalid_field(_: Request, exc: InvalidField) -> JSONResponse:
        return invalid([{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(UnknownFact)
    async def _unknown(_: Request, exc: UnknownFact) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": "not_found", "detail": str(exc)})

    @app.exception_handler(RuleBroken)
    async def _rule(_: Request, exc: RuleBroken) -> JSONResponse:
        return JSONResponse(status_code=409, content={"error": "rule_broken", "rule": str(exc)})

    @app.exception_handler(TooMuchContention)
    async def _contention(_: Request, exc: TooMuchContention) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": "contention", "detail": str(exc)},
                            headers={"Retry-After": "1"})

    @app.exception_handler(EventTooLarge)
    async def _too_large(_: Request, exc: EventTooLarge) -> JSONResponse:
        return too_large(str(exc))

    async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database's message names hosts and statements: logged, not sent.
        log.warning("store unavailable: %s: %s", type(exc).__name__, exc)
        gate = getattr(request.app.state, "store_gate", None)
        if gate is not None and is_unreachable(exc):
            gate.close()
        return store_unavailable()

    for error in STORE_UNAVAILABLE:
        app.add_exception_handler(error, _store_unavailable)
