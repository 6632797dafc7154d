"""Every error as RFC 9457 problem details (`application/problem+json`):
`type` (a relative URI naming the kind of problem), `title`, `status`,
`detail`, and our `fields` ({field, reason} each) when input was wrong. The
kinds are listed in docs/errors.md; `problem()` is the one place a body is
made, whatever raised: a domain rule, `HTTPException`, FastAPI's request
validation, Starlette's router (unknown route, wrong method), the store not
answering (503: the database did not answer, or a statement or lock wait
passed its timeout), the body limits (413) or a bug."""
from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException

from api.limits import is_unreachable
from audit.cuts import BadInput, UnknownQuery
from domain.exceptions import ConflictingRepeat, RuleBroken, UnknownFact
from service_layer.governance import InvalidField, TooMuchContention
from projections.errors import BadFilter
from service_layer.store.group_commit import EventTooLarge

log = logging.getLogger("redwhistle.api")

# The store's connection and timeout errors as each layer raises them: the
# event store's (psycopg's and sqlite3's, translated), and psycopg's,
# psycopg_pool's PoolTimeout and sqlite3's where they come through untranslated.
STORE_UNAVAILABLE = (OperationalError, InterfaceError, psycopg.OperationalError,
                     psycopg.InterfaceError, sqlite3.OperationalError)

MEDIA_TYPE = "application/problem+json"

# kind: (status, title). The first kind of a status is what a bare
# `HTTPException(status)` of that status comes out as.
KINDS: dict[str, tuple[int, str]] = {
    "malformed-body": (400, "Malformed body"),
    "unauthorized": (401, "Unauthorized"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "rule-broken": (409, "Rule broken"),
    "conflicting-repeat": (409, "Conflicting repeat"),
    "too-large": (413, "Body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "invalid": (422, "Invalid input"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "Unavailable"),
    "views-behind": (504, "Views behind"),
}
KIND_OF_STATUS: dict[int, str] = {}
for _kind, (_status, _) in KINDS.items():
    KIND_OF_STATUS.setdefault(_status, _kind)


def problem(status: int, detail: str | None = None, *, kind: str | None = None,
            fields: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """The problem response for `status`; `kind` picks among the kinds of one
    status (default: its first). A status without a kind of ours answers
    `about:blank` and the status's phrase, as RFC 9457 says."""
    kind = kind or KIND_OF_STATUS.get(status)
    if kind is None:
        body: dict[str, Any] = {"type": "about:blank", "title": _phrase(status)}
    else:
        body = {"type": f"/problems/{kind}", "title": KINDS[kind][1]}
    body["status"] = status
    if detail is not None:
        body["detail"] = detail
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    return Response(to_json(body), status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status Python does not name
        return "Error"


def invalid(fields: list[dict[str, str]]) -> Response:
    """422 naming each wrong field: [{"field": ..., "reason": ...}]."""
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return problem(422, f"invalid: {names}", fields=fields)


def store_unavailable() -> Response:
    return problem(503, "the store did not answer in time; retry", headers={"Retry-After": "5"})


def too_large(detail: str) -> Response:
    return problem(413, detail)


def _malformed(reason: str) -> Response:
    return problem(400, f"the body is not JSON: {reason}", kind="malformed-body",
                   fields=[{"field": "body", "reason": reason}])


async def _validation(_: Request, exc: RequestValidationError) -> Response:
    fields = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            loc = e.get("loc", ())
            position = f" at position {loc[1]}" if len(loc) > 1 else ""
            return _malformed(f"{(e.get('ctx') or {}).get('error', 'JSON decode error')}{position}")
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        fields.append({"field": ".".join(loc) or "body", "reason": e.get("msg", "invalid")})
    return invalid(fields)


async def _http(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's "There was an error parsing the body": bytes that are
        # not text (a UnicodeDecodeError names the byte and its position).
        return _malformed(str(exc.__cause__))
    detail = exc.detail if isinstance(exc.detail, str) else None
    if detail == _phrase(status):  # Starlette's router says only that
        if status == 404:
            detail = f"no route {request.url.path}"
        elif status == 405:
            detail = (f"{request.method} is not allowed on {request.url.path}; "
                      f"allowed: {(exc.headers or {}).get('Allow', '')}")
    return problem(status, detail, headers=exc.headers)


async def _unknown(_: Request, exc: UnknownFact) -> Response:
    return problem(404, str(exc))


async def _rule(_: Request, exc: RuleBroken) -> Response:
    kind = "conflicting-repeat" if isinstance(exc, ConflictingRepeat) else "rule-broken"
    return problem(409, str(exc), kind=kind, rule=str(exc))


async def _invalid_field(_: Request, exc: InvalidField | BadFilter) -> Response:
    return invalid([{"field": exc.field, "reason": exc.reason}])


async def _unknown_query(_: Request, exc: UnknownQuery) -> Response:
    return problem(404, str(exc))


async def _bad_input(_: Request, exc: BadInput) -> Response:
    return invalid([{"field": exc.field or "query", "reason": str(exc)}])


async def _contention(_: Request, exc: TooMuchContention) -> Response:
    return problem(503, str(exc), headers={"Retry-After": "1"})


async def _too_large(_: Request, exc: EventTooLarge) -> Response:
    return too_large(str(exc))


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    # The database's message names hosts and statements: logged, not sent.
    log.warning("store unavailable: %s: %s", type(exc).__name__, exc)
    gate = getattr(request.app.state, "store_gate", None)
    if gate is not None and is_unreachable(exc):
        gate.close()
    return store_unavailable()


async def _bug(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log only; the client learns where to look.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "the server failed to answer this request; the error was logged")


def install(app: FastAPI) -> None:
    # async handlers run on the event loop, not in a trip to the threadpool
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(UnknownFact, _unknown)
    app.add_exception_handler(RuleBroken, _rule)
    app.add_exception_handler(InvalidField, _invalid_field)
    app.add_exception_handler(UnknownQuery, _unknown_query)  # a BadInput: before it
    app.add_exception_handler(BadInput, _bad_input)
    app.add_exception_handler(BadFilter, _invalid_field)
    app.add_exception_handler(TooMuchContention, _contention)
    app.add_exception_handler(EventTooLarge, _too_large)
    for error in STORE_UNAVAILABLE:
        app.add_exception_handler(error, _store_unavailable)
    app.add_exception_handler(Exception, _bug)
