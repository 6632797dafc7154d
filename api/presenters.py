"""Aggregate state as JSON for responses: the same shape for a write's result
and a read (service_layer/snapshots.py), with the log position a write
reached (for read-your-writes), and without the names a reader's role may
not see.
"""
from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic_core import to_json

from api.auth import sees_issue
from domain.company import PropertyCompany
from domain.compound import Compound
from service_layer.governance import Outcome
from service_layer.snapshots import company, compound, issue
from service_layer.tokens import Principal

# Who reads personal names (docs/access.md). Names of staff: the grid worker
# who blew the whistle, the officers who reported in, who rated, who
# evaluated a company; names of residents: the owners' committee members.
STAFF_NAMES_HIDDEN_FROM = frozenset({"viewer"})
RESIDENT_NAMES_SHOWN_TO = frozenset({"admin", "auditor", "official"})


def compound_for(who: Principal, c: Compound) -> dict[str, Any]:
    """A compound as `who` may read it: the open issues within its scope,
    without the names its role does not need."""
    body = compound(c)
    body["open_issues"] = [_issue_without_names(i, who.role)
                           for i in body["open_issues"] if sees_issue(who, i)]
    if body["committee"] and who.role not in RESIDENT_NAMES_SHOWN_TO:
        for member in body["committee"]["members"]:
            member.pop("name", None)
    return body


def issue_for(who: Principal, c: Compound, issue_id: str) -> dict[str, Any]:
    return _issue_without_names(issue(c, issue_id), who.role)


def company_for(who: Principal, p: PropertyCompany) -> dict[str, Any]:
    body = company(p)
    if who.role in STAFF_NAMES_HIDDEN_FROM:
        for evaluation in body["evaluations"]:
            evaluation.pop("evaluator", None)
    return body


def _issue_without_names(body: dict[str, Any], role: str) -> dict[str, Any]:
    if role in STAFF_NAMES_HIDDEN_FROM:
        body.pop("grid_worker", None)
        for report in body["reports"].values():
            report.pop("officer", None)
        for rating in body["ratings"]:
            rating.pop("rated_by", None)
    return body


def respond(outcome: Outcome, **extra: Any) -> Response:
    """The snapshot the use case took, with the write's position; 201 for a
    new fact, 200 for a repeat that wrote nothing. Encoded here, as FastAPI
    would encode it, because a `dict` return value is first validated against
    itself in a second trip through the threadpool."""
    body = dict(outcome.snapshot, **extra, position=outcome.position, created=outcome.created)
    return json_response(body, 201 if outcome.created else 200)


def json_response(body: Any, status_code: int = 200) -> Response:
    """`body` encoded in one call. Returned as it is, FastAPI would first walk
    it with `jsonable_encoder`, in the event loop, value by value in Python:
    many times slower for a large list (bench/README.md)."""
    return Response(to_json(body), status_code=status_code, media_type="application/json")
