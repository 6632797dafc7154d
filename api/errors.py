"""Errors as JSON, each naming what was wrong:
422 {"error": "invalid", "fields": [{"field", "reason"}]}, 404 not_found,
409 rule_broken (with the rule in words), 401/403 from auth, 503 contention."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from domain.exceptions import RuleBroken, UnknownFact
from service_layer.governance import InvalidField, TooMuchContention


def invalid(fields: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"error": "invalid", "fields": fields})


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
