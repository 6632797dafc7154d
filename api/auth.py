"""Who may do what. Every request but /health and the docs carries
`Authorization: Bearer <token>`; roles and scopes are checked per use case.

Reads keep to the scopes of writes (docs/access.md has the table): what lies
outside a reader's scope answers 404, as if it did not exist, because a 403
would tell that it does."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.exceptions import UnknownFact
from service_layer.bootstrap import Services
from service_layer.tokens import MISS, Principal

_bearer = HTTPBearer(auto_error=False)

READERS = ("admin", "official", "grid_worker", "department", "auditor", "viewer")


# The dependencies are `async def` so FastAPI runs them on the event loop
# rather than sending each to the threadpool; a token is mostly found in the
# in-memory cache of service_layer/tokens.py; a token it does not hold is
# looked up in the threadpool, so a flood of unknown tokens cannot stall the loop.
async def services(request: Request) -> Services:
    return request.app.state.services


async def principal(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
              svc: Services = Depends(services)) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, detail="missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    found = svc.tokens.remembered(credentials.credentials)
    if found is MISS:
        found = await run_in_threadpool(svc.tokens.principal, credentials.credentials)
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


# -- reads ------------------------------------------------------------------
# The same answers as for a compound or an issue that does not exist.
def unknown_compound(code: str) -> UnknownFact:
    return UnknownFact(f"compound {code} is not registered")


def unknown_issue(code: str, issue_id: str) -> UnknownFact:
    return UnknownFact(f"issue {issue_id} is unknown in compound {code}")


def sees_street(who: Principal, street: str) -> bool:
    return not (who.role in ("official", "grid_worker") and who.street and who.street != street)


def sees_compound(who: Principal, street: str, grids: list[str] | tuple[str, ...]) -> bool:
    """A grid worker scoped to grids alone sees the compounds those grids touch."""
    if not sees_street(who, street):
        return False
    if who.role == "grid_worker" and not who.street and who.grids:
        return bool(set(grids) & set(who.grids))
    return True


def sees_issue(who: Principal, issue: dict[str, Any]) -> bool:
    """Within a compound the reader sees: a grid worker the issues of its
    grids, a department those that summoned it."""
    if who.role == "grid_worker" and who.grids and issue["grid"] not in who.grids:
        return False
    if who.role == "department" and who.department not in issue["departments"]:
        return False
    return True


def check_sees_compound(who: Principal, svc: Services, code: str) -> None:
    """Raises the 404 of an unknown compound unless `who` may read `code`;
    the compound is loaded only for a reader scoped to grids."""
    if who.role not in ("official", "grid_worker") or not (who.street or who.grids):
        return
    if who.role == "grid_worker" and not who.street:
        c = svc.governance.compound(code)
        visible = sees_compound(who, c.street, c.grids)
    else:
        visible = sees_street(who, svc.governance.street_of(code))
    if not visible:
        raise unknown_compound(code)
