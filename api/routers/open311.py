"""Open311 GeoReport v2 under /open311/v2 (docs/open311.md): services are
issue categories, a POSTed request blows a whistle on the compound found at
its location, and requests are read from the issues view (its issues and
compounds tables: projections/issues/view.py).

Errors take the spec's shape (`[{"code", "description"}]` or `<errors>`), not
the rest of the API's, so every endpoint answers through `_answer`.

One module, though long: the form parsing and location lookup below serve only
these endpoints, and raise what `_answer` turns into the spec's errors.
"""
from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api import open311_format as o311
from api.auth import READERS, check_grid, check_street
from domain.exceptions import ConflictingRepeat, RuleBroken, UnknownFact
from projections.moments import local, moment, parse_moment
from projections.issues.view import IssuesView
from projections.feed import wait_for_views
from service_layer.bootstrap import Services
from service_layer.contacts import FIELDS as CONTACT_FIELDS
from service_layer.governance import InvalidField, TooMuchContention
from adapters.limits import check_free_text
from service_layer.tokens import Principal

router = APIRouter(prefix="/open311/v2", tags=["open311"])

WRITERS = ("admin", "official", "grid_worker", "hotline")
SOURCE_OF_ROLE = {"grid_worker": "grid_patrol", "hotline": "hotline_12345",
                  "official": "open311", "admin": "open311"}
SEES_CONTACTS = ("admin", "official")
WINDOW = timedelta(days=90)  # the spec's longest start_date..end_date span
PAGE_SIZE = 1000
MAX_BODY = 64 * 1024
# Idempotency keys become issue ids in this namespace, with the token's owner.
IDEMPOTENCY_NS = uuid.UUID("6f1c3b0e-7d4a-5b8e-9c2f-0a311e5d2b71")
_VIEW = IssuesView()


def _answer(fmt: str, work: Callable[[], Response]) -> Response:
    """Runs an endpoint's work, turning every failure into the spec's errors."""
    try:
        if fmt not in o311.FORMATS:
            raise o311.Open311Error(404, f"format {fmt!r} is not served; use json or xml")
        return work()
    except o311.Open311Error as e:
        return o311.error(fmt, e.code, e.description)
    except HTTPException as e:
        return o311.error(fmt, e.status_code, str(e.detail))
    except UnknownFact as e:
        return o311.error(fmt, 404, str(e))
    except ConflictingRepeat as e:
        return o311.error(fmt, 409, f"{e}: a retry must repeat the first request's fields")
    except (RuleBroken, InvalidField) as e:
        return o311.error(fmt, 400, str(e))
    except TooMuchContention as e:
        return o311.error(fmt, 503, str(e))


def _principal(svc: Services, request: Request, api_key: str | None) -> Principal | None:
    """The caller by `api_key` (or a bearer token); None for an anonymous read."""
    token = api_key
    header = request.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token:
        return None
    who = svc.tokens.principal(token)
    if who is None:
        raise o311.Open311Error(403, "api_key is not a known Red Whistle token")
    return who


def _reader(svc: Services, request: Request) -> Principal | None:
    who = _principal(svc, request, request.query_params.get("api_key"))
    if who is not None and who.role not in (*READERS, "hotline"):
        raise o311.Open311Error(403, f"role {who.role} may not read requests")
    return who


def _datetime(value: datetime) -> str:
    """Local time of the district (UTC+8), as the spec's W3C form with offset."""
    return local(value).isoformat(timespec="seconds")


# -- services -------------------------------------------------------------
@router.get("/services.{fmt}")
def services_list(fmt: str, request: Request) -> Response:
    svc: Services = request.app.state.services
    return _answer(fmt, lambda: o311.render(
        fmt, "services", [o311.service(c) for c in svc.settings.categories]))


@router.get("/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def work() -> Response:
        if service_code not in svc.settings.categories:
            raise o311.Open311Error(404, f"service_code {service_code} is not a service")
        return o311.render(fmt, "service_definition", dict(
            service_code=service_code, attributes=deepcopy(o311.ATTRIBUTES)))
    return _answer(fmt, work)


# -- POST a request ---------------------------------------------------------
@router.post("/requests.{fmt}", status_code=201)
async def post_request(fmt: str, request: Request) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if kind not in ("", "application/x-www-form-urlencoded") or len(body) > MAX_BODY:
        return o311.error(fmt, 400, "send the request form-encoded "
                                    "(application/x-www-form-urlencoded), at most 64 KiB")
    try:
        form = dict(request.query_params)
        form.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return o311.error(fmt, 400, "the form must be UTF-8")
    svc: Services = request.app.state.services
    key = request.headers.get("idempotency-key")
    return await run_in_threadpool(
        _answer, fmt, lambda: _create(svc, fmt, request, form, key))


def _text(form: dict[str, str], name: str, limit: int) -> str | None:
    value = (form.get(name) or "").strip()
    if len(value) > limit:
        raise o311.Open311Error(400, f"{name} must be at most {limit} characters")
    try:
        check_free_text(value)
    except ValueError as e:
        raise o311.Open311Error(400, f"{name} {e}") from None
    return value or None


def _float(form: dict[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(form[name])
    except ValueError:
        raise o311.Open311Error(400, f"{name} must be a number of degrees") from None
    if not low <= value <= high:
        raise o311.Open311Error(400, f"{name} must lie between {low} and {high}")
    return value


def _attributes(form: dict[str, str], who: Principal) -> dict[str, str]:
    given = {}
    for name, value in form.items():
        if name.startswith("attribute[") and name.endswith("]"):
            given[name[len("attribute["):-1].rstrip("][")] = value.strip()
    known = {a["code"]: a for a in o311.ATTRIBUTES}
    for code, value in given.items():
        if code not in known:
            raise o311.Open311Error(400, f"attribute[{code}] is not an attribute; known: "
                                         f"{', '.join(known)}")
        allowed = [v["key"] for v in known[code].get("values", [])]
        if allowed and value and value not in allowed:
            raise o311.Open311Error(400, f"attribute[{code}] must be one of {', '.join(allowed)}")
        if len(value) > 200 or "\x00" in value:
            raise o311.Open311Error(400, f"attribute[{code}] must be at most 200 characters")
    if given.get("source") and who.role != "hotline":
        raise o311.Open311Error(400, "attribute[source] is for hotline tokens only")
    return {k: v for k, v in given.items() if v}


def _issue_id(form: dict[str, str], key: str | None, who: Principal) -> str:
    """A retry must find the first attempt's issue: the id comes from the
    client's `Idempotency-Key` (with the token's owner, so keys of different
    callers never meet) or is the client's own UUID `service_request_id`."""
    if key:
        if len(key) > 200:
            raise o311.Open311Error(400, "Idempotency-Key must be at most 200 characters")
        return str(uuid.uuid5(IDEMPOTENCY_NS, f"{who.role}\n{who.name}\n{key}"))
    if form.get("service_request_id"):
        try:
            return str(uuid.UUID(form["service_request_id"]))
        except ValueError:
            raise o311.Open311Error(400, "service_request_id, when a client sends it, "
                                         "is a UUID") from None
    return str(uuid.uuid4())


def _create(svc: Services, fmt: str, request: Request, form: dict[str, str],
            key: str | None) -> Response:
    who = _principal(svc, request, form.get("api_key"))
    if who is None:
        raise o311.Open311Error(403, "api_key is required to post a request")
    if who.role not in WRITERS:
        raise o311.Open311Error(403, f"role {who.role} may not post requests; "
                                     f"allowed: {', '.join(WRITERS)}")
    category = form.get("service_code") or ""
    if category not in svc.settings.categories:
        raise o311.Open311Error(400, f"service_code {category!r} is not a service")
    attributes = _attributes(form, who)
    issue_id = _issue_id(form, key, who)
    code = _stored_compound(svc, issue_id) or _compound_at(svc, form)
    street = svc.governance.street_of(code)
    if who.role == "grid_worker":
        check_grid(who, street, attributes.get("grid"))
    else:
        check_street(who, street)
    media_url = _text(form, "media_url", 2000)
    if media_url and not media_url.startswith(("http://", "https://")):
        raise o311.Open311Error(400, "media_url must be an http or https URL")
    description = _text(form, "description", 2000) or o311.service(category)["service_name"]
    departments = svc.settings.route(category)
    source = attributes.get("source") or SOURCE_OF_ROLE[who.role]
    outcome = svc.governance.blow_whistle(
        code, grid_worker=who.name, issue_id=issue_id, category=category,
        description=description, departments=departments,
        urgency=attributes.get("urgency", "normal"), source=source,
        grid=attributes.get("grid"), building=attributes.get("building"),
        unit=attributes.get("unit"), media_url=media_url)
    contact = {f: _text(form, f, 200) for f in CONTACT_FIELDS}
    svc.contacts.keep(issue_id, contact)
    if outcome.created:
        # Most clients read their request back at once and know nothing of our
        # `?after=`: the answer waits (briefly) until the view shows it.
        wait_for_views(svc.log, [_VIEW], outcome.position, timeout=1.0)
    issue = outcome.snapshot
    return o311.render(fmt, "service_requests", [dict(
        service_request_id=issue_id,
        service_notice=_notice(departments, issue["report_due_at"], issue["resolve_due_at"]),
        account_id=contact["account_id"])], 201 if outcome.created else 200)


def _notice(departments: list[str], report_due: datetime, resolve_due: datetime) -> str:
    return (f"已吹哨,召集{o311.department_names(departments)};"
            f"报到时限 {_datetime(report_due)},办结时限 {_datetime(resolve_due)}。")


def _tables(svc: Services) -> dict[str, str]:
    return {b: _VIEW.table(svc.db, "", b) for b in ("issues", "compounds")}


def _stored_compound(svc: Services, issue_id: str) -> str | None:
    """The compound a retried request was filed on, whatever its location now finds."""
    rows = svc.db.fetchall(f"SELECT compound FROM {_tables(svc)['issues']} "
                           "WHERE issue_id = ? ORDER BY compound LIMIT 1", (issue_id,))
    return rows[0][0] if rows else None


def _compound_at(svc: Services, form: dict[str, str]) -> str:
    """The compound a request's location names: `address_id` is a compound's
    code; `lat`/`long` the registered compound nearest the point within the
    configured radius; `address_string` a compound's name or address."""
    t = _tables(svc)['compounds']
    if form.get("address_id"):
        code = form["address_id"]
        try:
            svc.governance.street_of(code)
        except UnknownFact:
            raise o311.Open311Error(400, f"address_id {code!r} is not a registered compound "
                                         "code") from None
        return code
    if form.get("lat") or form.get("long"):
        if not (form.get("lat") and form.get("long")):
            raise o311.Open311Error(400, "lat and long come together")
        return _nearest(svc, t, _float(form, "lat", -90, 90), _float(form, "long", -180, 180))
    where = _text(form, "address_string", 500)
    if where:
        return _named(svc, t, where)
    raise o311.Open311Error(400, "a location is required: address_id, lat and long, "
                                 "or address_string")


def _nearest(svc: Services, table: str, lat: float, lon: float) -> str:
    radius = svc.settings.open311_radius_m
    dlat = radius / 111_320 + 1e-9
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    rows = svc.db.fetchall(f"SELECT code, latitude, longitude FROM {table} "
                           "WHERE latitude BETWEEN ? AND ? AND longitude BETWEEN ? AND ?",
                           (lat - dlat, lat + dlat, lon - dlon, lon + dlon))
    found = sorted((_metres(lat, lon, la, lo), code) for code, la, lo in rows)
    if not found or found[0][0] > radius:
        raise o311.Open311Error(400, f"no registered compound lies within {radius:g} m of "
                                     f"{lat}, {lon} (WGS-84)")
    return found[0][1]


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) on a sphere of the Earth's mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _named(svc: Services, table: str, text: str) -> str:
    exact = svc.db.fetchall(f"SELECT DISTINCT code FROM {table} WHERE name = ? OR address = ?",
                            (text, text))
    found = exact or svc.db.fetchall(
        f"SELECT DISTINCT code FROM {table} WHERE ? LIKE '%' || name || '%' OR name LIKE ?",
        (text, f"%{text}%"))
    if len(found) == 1:
        return found[0][0]
    if not found:
        raise o311.Open311Error(400, f"no registered compound is named {text!r}")
    codes = sorted(r[0] for r in found)
    raise o311.Open311Error(400, f"address_string {text!r} names several compounds "
                                 f"({', '.join(codes[:5])}); send address_id")


# -- GET requests ------------------------------------------------------------
_SELECT = ("SELECT r.issue_id, r.compound, r.category, r.description, r.departments, "
           "r.status, r.status_notes, r.blown_at, r.updated_at, r.report_due_at, "
           "r.resolve_due_at, r.media_url, c.name, c.latitude, c.longitude, c.address, "
           "c.zipcode FROM {issues} r JOIN {compounds} c ON c.code = r.compound")


def _when(params: Any, name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "+"))  # an unencoded + arrives as space
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise o311.Open311Error(400, f"{name} must be a W3C datetime with its offset, "
                                     "e.g. 2026-05-01T00:00:00+08:00")
    return value


def _window(params: Any, now: datetime) -> tuple[datetime, datetime]:
    start, end = _when(params, "start_date"), _when(params, "end_date")
    if start and end:
        if end < start or end - start > WINDOW:
            raise o311.Open311Error(400, "start_date..end_date may not span more than 90 days")
        return start, end
    if start:
        return start, start + WINDOW
    end = end or now
    return end - WINDOW, end


def _list(params: Any, name: str) -> list[str]:
    return [v.strip() for v in (params.get(name) or "").split(",") if v.strip()]


def _page(params: Any, name: str, default: int, high: int) -> int:
    raw = params.get(name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise o311.Open311Error(400, f"{name} must be a whole number from 1 to {high}")
    return value


@router.get("/requests.{fmt}")
def requests_list(fmt: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def work() -> Response:
        who = _reader(svc, request)
        p = request.query_params
        t = _tables(svc)
        sql, args = _SELECT.format(**t), []
        ids = _list(p, "service_request_id")
        if ids:  # overrides every other filter, as the spec says
            if len(ids) > PAGE_SIZE:
                raise o311.Open311Error(400, f"at most {PAGE_SIZE} service_request_ids")
            sql += f" WHERE r.issue_id IN ({', '.join('?' for _ in ids)})"
            args += ids
        else:
            start, end = _window(p, svc.governance.clock())
            sql += " WHERE r.blown_at >= ? AND r.blown_at <= ?"
            args += [moment(start), moment(end)]
            codes = _list(p, "service_code")
            if codes:
                sql += f" AND r.category IN ({', '.join('?' for _ in codes)})"
                args += codes
            statuses = _list(p, "status")
            if any(s not in ("open", "closed") for s in statuses):
                raise o311.Open311Error(400, "status is open, closed, or both comma-separated")
            if len(set(statuses)) == 1:  # closed: resolved, or closed as a duplicate
                sql += f" AND r.status {'=' if statuses[0] == 'open' else '<>'} 'open'"
        size = _page(p, "page_size", PAGE_SIZE, PAGE_SIZE)
        page = _page(p, "page", 1, 1_000_000)
        sql += " ORDER BY r.blown_at DESC, r.issue_id, r.compound LIMIT ? OFFSET ?"
        args += [size, (page - 1) * size]
        return o311.render(fmt, "service_requests", _requests(svc, who, svc.db.fetchall(sql,
                                                                                       args)))
    return _answer(fmt, work)


@router.get("/requests/{service_request_id}.{fmt}")
def request_one(service_request_id: str, fmt: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def work() -> Response:
        who = _reader(svc, request)
        sql = _SELECT.format(**_tables(svc)) + " WHERE r.issue_id = ? ORDER BY r.compound"
        rows = svc.db.fetchall(sql, (service_request_id,))
        if not rows:
            raise o311.Open311Error(404, f"service_request_id {service_request_id} is unknown")
        return o311.render(fmt, "service_requests", _requests(svc, who, rows))
    return _answer(fmt, work)


def _requests(svc: Services, who: Principal | None, rows: list[tuple]) -> list[dict[str, Any]]:
    contacts = (svc.contacts.of([r[0] for r in rows])
                if who is not None and who.role in SEES_CONTACTS else None)
    out = []
    for (issue_id, code, category, description, departments, status, notes, requested,
         updated, report_due, expected, media_url, name, lat, lon, address, zipcode) in rows:
        summoned = departments.split(",")
        item = dict(
            service_request_id=issue_id, status="open" if status == "open" else "closed",
            status_notes=notes, service_name=o311.service(category)["service_name"],
            service_code=category, description=description,
            agency_responsible=o311.department_names(summoned),
            service_notice=_notice(summoned, parse_moment(report_due), parse_moment(expected)),
            requested_datetime=_datetime(parse_moment(requested)),
            updated_datetime=_datetime(parse_moment(updated)),
            expected_datetime=_datetime(parse_moment(expected)),
            address=address or name, address_id=code, zipcode=zipcode, lat=lat, long=lon,
            media_url=media_url)
        if contacts is not None:
            item.update(contacts.get(issue_id) or {f: None for f in CONTACT_FIELDS})
        out.append(item)
    return out
