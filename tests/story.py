"""Bodies for the API, with sensible defaults, so tests read like stories."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any


def compound(code: str = "HD-001", street: str = "Xinjiekou", **over: Any) -> dict[str, Any]:
    return dict(dict(code=code, name=f"Compound {code}", district="Haidian", street=street,
                     community="Huayuan", grids=["G1", "G2"], households=480, kind="old",
                     management_mode="professional"), **over)


def whistle(departments: list[str] | None = None, **over: Any) -> dict[str, Any]:
    return dict(dict(issue_id=str(uuid.uuid4()), category="blocked_fire_lane",
                     description="Cars block the fire lane by building 3",
                     departments=departments or ["fire", "urban_management"],
                     urgency="normal", source="grid_patrol", grid="G1", building="3"), **over)


def whistles_blown(governance: Any, code: str, at: datetime,
                   bodies: list[dict[str, Any]]) -> list[str]:
    """Each body blown on `code` through the use case by grid worker Wang, a
    minute apart from `at`; their issue ids."""
    for n, body in enumerate(bodies):
        governance.blow_whistle(code, grid_worker="Wang", at=at + timedelta(minutes=n),
                                **{k: (str(v) if k == "issue_id" else v)
                                   for k, v in body.items()})
    return [str(body["issue_id"]) for body in bodies]


def company(code: str = "PC-01", **over: Any) -> dict[str, Any]:
    return dict(dict(code=code, name=f"Property {code}", party_organisation=True), **over)


def scores(each: float = 18) -> dict[str, float]:
    return dict(organisation=each, team=each, daily_management=each, service_quality=each,
                public_image=each)


def committee(party: int = 3, others: int = 2) -> dict[str, Any]:
    members = [dict(name=f"P{i}", role="director" if i == 0 else "member", party_member=True)
               for i in range(party)]
    members += [dict(name=f"N{i}", role="member", party_member=False) for i in range(others)]
    return dict(term_start="2026-01-01", term_end="2031-01-01", members=members)


def meeting(**over: Any) -> dict[str, Any]:
    return dict(dict(meeting_id=str(uuid.uuid4()), held_on="2026-05-10",
                     attendees=[dict(name="Secretary Wang", organisation="party_organisation")],
                     issues_discussed=[], decisions=[]), **over)


def admin_auth(database_url: str) -> dict[str, str]:
    """An admin's Authorization header, made in the store before a server of
    its own (`redwhistle serve`) opens it."""
    from adapters.settings import Settings
    from service_layer.bootstrap import bootstrap
    services = bootstrap(Settings(database_url=database_url))
    try:
        token = services.tokens.create(role="admin", name="ops")
    finally:
        services.close()
    return {"Authorization": f"Bearer {token}"}
