"""Aggregate state as JSON for responses: the same shape for a write's result
and a read, with the log position a write reached (for read-your-writes)."""
from __future__ import annotations

from typing import Any

from domain.company import PropertyCompany
from domain.compound import Compound
from service_layer.governance import Outcome


def compound(c: Compound) -> dict[str, Any]:
    return dict(code=c.code, name=c.name, district=c.district, street=c.street,
                community=c.community, grids=c.grids, households=c.households, kind=c.kind,
                management_mode=c.management_mode, registered_at=c.registered_at,
                version=c.version, property_contract=c.property_contract,
                committee=c.committee, issues=len(c.issues), open_issues=c.open_issues())


def issue(c: Compound, issue_id: str) -> dict[str, Any]:
    return dict(c.issue(issue_id), compound_code=c.code, version=c.version)


def company(p: PropertyCompany) -> dict[str, Any]:
    return dict(code=p.code, name=p.name, party_organisation=p.party_organisation,
                registered_at=p.registered_at, version=p.version,
                evaluations=sorted(p.evaluations.values(), key=lambda e: (e["year"], e["level"])))


def written(outcome: Outcome, body: dict[str, Any]) -> dict[str, Any]:
    return dict(body, position=outcome.position, created=outcome.created)


def respond(response: Any, outcome: Outcome, body: dict[str, Any]) -> dict[str, Any]:
    """201 for a new fact, 200 for a repeat that wrote nothing."""
    response.status_code = 201 if outcome.created else 200
    return written(outcome, body)
