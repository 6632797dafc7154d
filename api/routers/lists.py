"""Work queues (issue 14): lists of issues, a department's inbox, compounds,
companies, meetings, categories and departments. Read from the views only;
every list is scoped to the caller (api/list_scope.py) and keyset-paged
(projections/issues/query.py states what a walk over the pages guarantees)."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import (READERS, check_department, forbid, role, sees_compound, services,
                      unknown_compound)
from api.list_scope import compound_scope, issue_scope, redacted
from api.presenters import json_response
from api.readmodels import csv_response, fresh, wants_csv
from api.responses import VIEW_ERRORS, Page, read
from api.schemas import CodeInPath
from domain.exceptions import UnknownFact
from projections.issues.query import (MAX_LIMIT, Conditions, finish_item, list_companies,
                                      list_compounds, list_inbox, list_issues, list_meetings,
                                      tables)
from projections.moments import moment, parse_bound
from service_layer.bootstrap import Services
from service_layer.catalogue import CATEGORIES, DEPARTMENTS, named
from service_layer.governance import InvalidField
from adapters.limits import check_name
from service_layer.tokens import Principal

router = APIRouter(prefix="/v1", tags=["lists"])
reader = role(*READERS)
PAGE, PAGE_OR_CSV = read(Page, VIEW_ERRORS), read(Page, VIEW_ERRORS, csv=True)

IssueSort = Literal["blown", "-blown", "updated", "-updated", "due", "-due"]
InboxSort = Literal["due", "-due", "blown", "-blown"]
Status = Literal["open", "resolved", "duplicate", "closed", "awaiting_decision"]
Limit = Query(50, ge=1, le=MAX_LIMIT)
def Word() -> Any:  # noqa: N802  a Query of its own per parameter (FastAPI names it)
    return Query(None, min_length=1, max_length=200)

CSV_COLUMNS = ["compound_code", "compound_name", "issue_id", "district", "street", "community",
               "grid", "category", "source", "urgency", "status", "level", "escalated",
               "reopened", "overdue", "awaiting_until", "blown_at", "updated_at",
               "report_due_at", "resolve_due_at", "duplicate_of", "departments", "description"]


def _moment_param(name: str, raw: str | None, end: bool) -> str | None:
    """A date (local, UTC+8; as an upper bound, the whole day) or an aware datetime."""
    if raw is None:
        return None
    try:
        return moment(parse_bound(raw, end=end))
    except ValueError as e:
        raise InvalidField(name, str(e)) from None


def _names(**values: str | None) -> None:
    """Words a list filters on reach the database: no control characters."""
    for name, value in values.items():
        if value is not None:
            try:
                check_name(value)
            except ValueError as e:
                raise InvalidField(name, str(e)) from None


def issue_filters(status: Status | None = None,
                  summoned: str | None = Query(None, alias="department", min_length=1,
                                               max_length=200),
                  district: str | None = Word(), street: str | None = Word(),
                  community: str | None = Word(), compound: str | None = Word(),
                  grid: str | None = Word(), category: str | None = Word(),
                  source: str | None = Word(), urgency: str | None = Word(),
                  overdue: bool | None = None, escalated: bool | None = None,
                  blown_from: str | None = Query(None, max_length=40),
                  blown_to: str | None = Query(None, max_length=40),
                  q: str | None = Query(None, min_length=1, max_length=200,
                                        description="words in the description; a substring "
                                                    "match, so Chinese matches too")
                  ) -> dict[str, Any]:
    _names(department=summoned, district=district, street=street, community=community,
           compound=compound, grid=grid, category=category, source=source, urgency=urgency,
           q=q)
    return dict(status=status, department=summoned, district=district, street=street,
                community=community, compound=compound, grid=grid, category=category,
                source=source, urgency=urgency, overdue=overdue, escalated=escalated,
                blown_from=_moment_param("blown_from", blown_from, end=False),
                blown_to=_moment_param("blown_to", blown_to, end=True), q=q)


def _answer(request: Request, who: Principal, items: list[dict], next_cursor: str | None,
            now: str, filename: str) -> Response:
    items = [finish_item(i, now, redacted(who)) for i in items]
    if wants_csv(request):
        rows = [dict(i, departments=";".join(f"{s['department']}:{s['state']}"
                                             for s in _summonses(i))) for i in items]
        response = csv_response(rows, filename, CSV_COLUMNS)
        if next_cursor:
            response.headers["X-Next-Cursor"] = next_cursor
        return response
    return json_response({"items": items, "next_cursor": next_cursor})


def _summonses(item: dict[str, Any]) -> list[dict[str, Any]]:
    return item.get("departments") or ([item["summons"]] if "summons" in item else [])


def _now(svc: Services) -> str:
    return moment(svc.governance.clock())


def _no_search_for_viewer(who: Principal, filters: dict[str, Any]) -> None:
    if redacted(who) and filters.get("q"):
        raise forbid("a viewer may not search descriptions")


@router.get("/issues", response_model=None, responses=PAGE_OR_CSV)
def issues(request: Request, filters: dict = Depends(issue_filters), sort: IssueSort = "blown",
           limit: int = Limit, cursor: str | None = Query(None, max_length=2000),
           who: Principal = Depends(reader), _: None = Depends(fresh),
           svc: Services = Depends(services)) -> Response:
    _no_search_for_viewer(who, filters)
    now = _now(svc)
    scope = issue_scope(who, tables(svc.log)["summonses"])
    summoning = None
    if who.role == "department" and filters["department"] in (None, who.department):
        # Its scope is "summoned by it": the department every row must have.
        scope, summoning = Conditions(), who.department
    items, next_cursor = list_issues(svc.log, filters, scope, sort, limit, cursor, now,
                                     department=summoning)
    return _answer(request, who, items, next_cursor, now, "issues.csv")


@router.get("/departments/{department}/inbox", response_model=None, responses=PAGE_OR_CSV)
def inbox(department: CodeInPath, request: Request, filters: dict = Depends(issue_filters),
          sort: InboxSort = "due", limit: int = Limit,
          cursor: str | None = Query(None, max_length=2000),
          who: Principal = Depends(reader), _: None = Depends(fresh),
          svc: Services = Depends(services)) -> Response:
    if department not in svc.settings.departments:
        raise UnknownFact(f"department {department} is not configured")
    check_department(who, department)
    _no_search_for_viewer(who, filters)
    now = _now(svc)
    # A department reads only its own inbox, whose rows all summoned it.
    scope = (Conditions() if who.role == "department"
             else issue_scope(who, tables(svc.log)["summonses"]))
    items, next_cursor = list_inbox(svc.log, department, filters, scope, sort, limit, cursor, now)
    return _answer(request, who, items, next_cursor, now, f"inbox-{department}.csv")


@router.get("/compounds", response_model=None, responses=PAGE)
def compounds(district: str | None = Word(), street: str | None = Word(),
              community: str | None = Word(), q: str | None = Word(), limit: int = Limit,
              cursor: str | None = Query(None, max_length=2000),
              who: Principal = Depends(reader), _: None = Depends(fresh),
              svc: Services = Depends(services)) -> Response:
    _names(district=district, street=street, community=community, q=q)
    filters = dict(district=district, street=street, community=community, q=q)
    items, next_cursor = list_compounds(svc.log, filters, compound_scope(who), limit, cursor)
    return json_response({"items": items, "next_cursor": next_cursor})


@router.get("/companies", response_model=None, responses=PAGE)
def companies(limit: int = Limit, cursor: str | None = Query(None, max_length=2000),
              _: Principal = Depends(reader), __: None = Depends(fresh),
              svc: Services = Depends(services)) -> Response:
    items, next_cursor = list_companies(svc.log, limit, cursor)
    return json_response({"items": items, "next_cursor": next_cursor})


@router.get("/compounds/{code}/meetings", response_model=None, responses=PAGE)
def meetings(code: CodeInPath, who: Principal = Depends(reader), _: None = Depends(fresh),
             svc: Services = Depends(services)) -> Response:
    compound = svc.governance.compound(code)
    if not sees_compound(who, compound.street, compound.grids):
        raise unknown_compound(code)  # outside the reader's scope: as if unknown
    return json_response({"items": list_meetings(svc.log, code), "next_cursor": None})


@router.get("/categories", response_model=None, responses=read(Page))
def categories(_: Principal = Depends(reader), svc: Services = Depends(services)) -> Response:
    items = [named(c, CATEGORIES) for c in svc.settings.categories]
    return json_response({"items": items, "next_cursor": None})


@router.get("/departments", response_model=None, responses=read(Page))
def departments(_: Principal = Depends(reader), svc: Services = Depends(services)) -> Response:
    policy = svc.settings.deadlines
    hours = lambda d: d.total_seconds() / 3600  # noqa: E731
    deadlines = dict(report_urgent_hours=hours(policy.report_urgent),
                     report_normal_hours=hours(policy.report_normal),
                     resolve_urgent_hours=hours(policy.resolve_urgent),
                     resolve_normal_hours=hours(policy.resolve_normal))
    items = [dict(named(d, DEPARTMENTS), deadlines=deadlines) for d in svc.settings.departments]
    return json_response({"items": items, "next_cursor": None})
