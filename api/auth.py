"""Who may do what. Every request but /health and the docs carries
`Authorization: Bearer <token>`; roles and scopes are checked per use case."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service_layer.bootstrap import Services
from service_layer.tokens import Principal

_bearer = HTTPBearer(auto_error=False)

READERS = ("admin", "official", "grid_worker", "department", "auditor", "viewer")


# The dependencies are `async def` so FastAPI runs them on the event loop
# rather than sending each to the threadpool; a token is mostly found in the
# in-memory cache of service_layer/tokens.py.
async def services(request: Request) -> Services:
    return request.app.state.services


async def principal(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
              svc: Services = Depends(services)) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, detail="missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    found = svc.tokens.principal(credentials.credentials)
    if found is None:
        raise HTTPException(401, detail="unknown token", headers={"WWW-Authenticate": "Bearer"})
    return found


def role(*allowed: str) -> Callable[..., Principal]:
    """A dependency admitting the given roles (admin always)."""
    async def check(who: Principal = Depends(principal)) -> Principal:
        if who.role != "admin" and who.role not in allowed:
            raise HTTPException(403, detail=f"role {who.role} may not do this; "
                                            f"allowed: admin, {', '.join(allowed)}")
        return who
    return check


def forbid(reason: str) -> HTTPException:
    return HTTPException(403, detail=reason)


def check_at(who: Principal, at: datetime | None) -> None:
    """The time of record is the server's clock; only admin imports history."""
    if at is not None and who.role != "admin":
        raise forbid("only admin may supply an explicit 'at' timestamp")


def check_street(who: Principal, street: str) -> None:
    """`street` is the compound's (`Governance.street_of`)."""
    if who.role in ("official", "grid_worker") and who.street and who.street != street:
        raise forbid(f"{who.name} is scoped to street {who.street}, not {street}")


def check_grid(who: Principal, street: str, grid: str | None) -> None:
    check_street(who, street)
    if who.role == "grid_worker" and who.grids and grid not in who.grids:
        raise forbid(f"{who.name} covers grids {', '.join(who.grids)}, not {grid}")


def check_department(who: Principal, department: str) -> None:
    if who.role == "department" and who.department != department:
        raise forbid(f"{who.name} acts only as department {who.department}")
