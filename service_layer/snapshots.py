"""What a write answers with: the aggregate's state as plain dicts and lists,
copied while the use case still holds the compound's stripe lock.

The next writer of the same compound changes the cached aggregate in place
(store/write_cache.py), so a snapshot never shares a dict or list with it.
Reads use the same shapes (api/presenters.py adds who may see which names).
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any

from domain.company import PropertyCompany
from domain.compound import Compound


def compound(c: Compound) -> dict[str, Any]:
    return dict(code=c.code, name=c.name, district=c.district, street=c.street,
                community=c.community, grids=list(c.grids), households=c.households,
                kind=c.kind, management_mode=c.management_mode,
                registered_at=c.registered_at, version=c.version,
                location=deepcopy(c.location),
                property_contract=deepcopy(c.property_contract),
                committee=deepcopy(c.committee), issues=len(c.issues),
                open_issues=deepcopy(c.open_issues()))


def issue(c: Compound, issue_id: str) -> dict[str, Any]:
    return dict(deepcopy(c.issue(issue_id)), compound_code=c.code, version=c.version)


def company(p: PropertyCompany) -> dict[str, Any]:
    return dict(code=p.code, name=p.name, party_organisation=p.party_organisation,
                registered_at=p.registered_at, version=p.version,
                evaluations=deepcopy(sorted(p.evaluations.values(),
                                            key=lambda e: (e["year"], e["level"]))))
