"""What each operation answers, for the OpenAPI document: the success bodies
as pydantic models and the problems (api/errors.py) each can answer.

The models document; they do not validate. Routes keep returning bodies that
api/presenters.py encodes in one call, so a model's fields must follow the
presenters and queries (tests/test_fuzz.py checks every answer against them).
Fields not listed may be added: the schemas allow more properties.

One module, though long: a list of declarations, one model per answer, looked
up by name rather than read from top to bottom."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from api.errors import KINDS, MEDIA_TYPE


# -- problems --------------------------------------------------------------
class FieldProblem(BaseModel):
    field: str = Field(description="the field, dotted (`members.0.role`; `query.from`; `body`)")
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details; docs/errors.md lists the kinds."""
    type: str = Field(description="`/problems/<kind>`, or `about:blank`")
    title: str
    status: int
    detail: str = Field(None, description="what happened this time, in words")
    instance: str = None
    fields: list[FieldProblem] = Field(None, description="on 400 malformed-body and 422")
    rule: str = Field(None, description="on 409: the rule broken, in words")


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": " or ".join(f"`/problems/{k}`" for k, (status, _) in KINDS.items()
                                           if status == s),
                "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}} for s in statuses}


# Every operation may meet a wrong method on its path (405), a bug (500) and
# a store that does not answer (503, with Retry-After).
_ANY = (405, 500, 503)
READ_ERRORS = _problems(401, 403, 404, 422, *_ANY)
# A view waits for `?after=` (409 beyond the log's head, 504 not reached in time).
VIEW_ERRORS = _problems(401, 403, 404, 409, 422, 504, *_ANY)
# A write may also meet a malformed, too large or not UTF-8 body and a rule.
WRITE_ERRORS = _problems(400, 401, 403, 404, 409, 413, 415, 422, *_ANY)
OPEN_ERRORS = _problems(*_ANY)
CSV = {"text/csv": {"schema": {"type": "string"}}}


def read(model: type[BaseModel], errors: dict = READ_ERRORS, csv: bool = False) -> dict:
    """`responses=` of a read answering `model` (and CSV when asked)."""
    ok: dict[str, Any] = {"model": model}
    if csv:
        ok["content"] = CSV
    return {200: ok, **errors}


def written(model: type[BaseModel]) -> dict:
    """`responses=` of a write: 201 a new fact, 200 a repeat that wrote nothing."""
    return {201: {"model": model, "description": "the fact was recorded"},
            200: {"model": model, "description": "a repeat: already recorded, nothing written"},
            **WRITE_ERRORS}


def person():
    """A person's name: left out for roles that may not read it."""
    return Field(None, description="a person's name; absent for roles that may not read it")


# -- what writes add to the state they answer -------------------------------
class Written(BaseModel):
    position: int | None = Field(description="the log position written: pass it as `?after=`")
    created: bool = Field(description="false: a repeat, nothing was written")


# -- compounds and issues --------------------------------------------------
class Report(BaseModel):
    officer: str = person()
    at: datetime


class Progress(BaseModel):
    department: str
    note: str
    at: datetime


class Resolution(BaseModel):
    department: str
    how: str
    at: datetime


class Rating(BaseModel):
    rating: str
    comment: str | None
    rated_by: str = person()
    cycle: int
    at: datetime


class Escalation(BaseModel):
    key: str
    reason: str
    departments: list[str]
    from_level: str
    to_level: str
    at: datetime


class Issue(BaseModel):
    issue_id: str
    category: str
    description: str
    departments: list[str]
    urgency: str
    source: str
    grid: str | None
    building: str | None
    unit: str | None
    grid_worker: str = person()
    blown_at: datetime
    report_due_at: datetime
    resolve_due_at: datetime
    status: str = Field(description="open or resolved")
    level: str = Field(description="street, district, city: raised by each missed deadline")
    reports: dict[str, Report] = Field(description="by department")
    progress: list[Progress]
    resolutions: list[Resolution]
    ratings: list[Rating]
    escalations: list[Escalation]
    reopened: int


class IssueOut(Issue):
    compound_code: str
    version: int


class IssueWritten(IssueOut, Written):
    pass


class Contract(BaseModel):
    company_code: str
    company_name: str
    starts_on: date
    ends_on: date
    since: datetime


class Member(BaseModel):
    name: str = person()
    role: str
    party_member: bool
    cross_appointed: bool = False


class Committee(BaseModel):
    term_start: date
    term_end: date
    members: list[Member]
    party_members: int
    party_below_half: bool
    cross_appointed: int
    elected_at: datetime


class CompoundOut(BaseModel):
    code: str
    name: str
    district: str
    street: str
    community: str
    grids: list[str]
    households: int
    kind: str
    management_mode: str
    registered_at: datetime
    version: int
    property_contract: Contract | None
    committee: Committee | None
    issues: int = Field(description="issues ever raised")
    open_issues: list[Issue]


class CompoundWritten(CompoundOut, Written):
    meeting_id: str = Field(None, description="on a joint meeting")
    survey_id: str = Field(None, description="on a survey")
    incident_id: str = Field(None, description="on an incident")


# -- companies -------------------------------------------------------------
class Scores(BaseModel):
    organisation: float
    team: float
    daily_management: float
    service_quality: float
    public_image: float


class Evaluation(BaseModel):
    year: int
    level: str
    scores: Scores
    total: float
    evaluator: str = person()
    at: datetime


class CompanyOut(BaseModel):
    code: str
    name: str
    party_organisation: bool
    registered_at: datetime
    version: int
    evaluations: list[Evaluation]


class CompanyWritten(CompanyOut, Written):
    pass


# -- views -----------------------------------------------------------------
class AgendaSummons(BaseModel):
    """A summons as of the agenda's cut-off, in the issues list's words (docs/queues.md)."""
    department: str
    state: str = Field(description="awaiting_report, awaiting_resolution, resolved, ended "
                                   "(its decline accepted, or reassigned away) or closed "
                                   "(the issue a duplicate)")
    summoned_at: datetime
    report_due_at: datetime
    resolve_due_at: datetime = Field(description="its own: an approved extension moves it")
    reported_at: datetime | None
    decline: str | None = Field(description="pending, accepted or rejected")
    extension: str | None = Field(description="pending, approved or refused")
    extension_until: datetime | None
    awaiting_until: datetime | None = Field(description="the deadline it awaits at the cut-off")
    overdue: bool


class AgendaItem(BaseModel):
    order: int
    compound_code: str
    compound_name: str | None
    priority: int
    kind: str
    refers_to: str
    issue_id: str | None
    category: str | None
    urgency: str | None
    meeting_id: str | None
    decision: int | None
    departments: list[str]
    due: str | None = Field(description="a date or a time")
    reason: str
    issue_ids: list[str] | None
    summonses: list[AgendaSummons] | None = Field(
        description="an issue's items: every summons of the issue, ended ones too")


class Agenda(BaseModel):
    """docs/agenda.md"""
    scope: str = Field(description="compound or community")
    meeting_on: date
    as_of: datetime
    items: list[AgendaItem]
    compound_code: str = Field(None, description="scope compound")
    compound_name: str = Field(None, description="scope compound")
    street: str = Field(None, description="scope compound")
    community: str = Field(None, description="scope community and compound")
    compounds: list[str] = Field(None, description="scope community")


class DashboardRow(BaseModel):
    key: str
    summonses: int
    reported: int
    reported_in_time: int
    response_rate: float | None
    median_minutes_to_report: float | None
    p90_minutes_to_report: float | None
    issues: int
    resolved: int
    resolution_rate: float | None
    rated: int
    satisfied: int
    satisfaction_rate: float | None
    first_satisfied: int
    first_contact_satisfaction_rate: float | None
    open: int
    overdue: int
    escalated: int
    three_rates_score: float | None


class Weights(BaseModel):
    response: float
    resolution: float
    satisfaction: float


class Dashboard(BaseModel):
    """docs/dashboard.md"""
    from_: datetime = Field(alias="from")
    to: datetime
    by: str
    now: datetime
    as_of: datetime | None
    position: int | None
    weights: Weights
    rows: list[DashboardRow]


class LevelScores(Scores):
    total: float


class Ranked(BaseModel):
    rank: int | None
    code: str
    name: str
    eligible: bool
    reasons: list[str]
    gold: bool
    black: bool
    revoked: bool
    street: LevelScores | None
    district: LevelScores | None
    street_total: float | None
    district_total: float | None
    composite: float | None
    survey_average: float | None
    surveys: int
    respondents: int
    summonses: int
    reported_in_time: int
    response_rate: float | None
    party_organisation: bool
    incidents: list[dict[str, Any]]


class Gold(BaseModel):
    rank: int
    code: str
    name: str
    composite: float | None
    survey_average: float | None
    response_rate: float | None


class Black(BaseModel):
    code: str
    name: str
    composite: float | None
    reasons: list[str]


class Revoked(BaseModel):
    code: str
    name: str
    gold_rank_last_year: int
    reasons: list[str]


class Rankings(BaseModel):
    """docs/rankings.md"""
    year: int
    companies: list[Ranked]
    gold: list[Gold]
    black: list[Black]
    revoked: list[Revoked]


# -- audit -----------------------------------------------------------------
class LoggedEvent(BaseModel):
    position: int
    originator_id: str
    originator_version: int
    topic: str = Field(description="module:Class of the event")
    state: dict[str, Any]
    digest: str | None = Field(description="the chain's digest; null until chained")


class LogPage(BaseModel):
    events: list[LoggedEvent]
    after: int
    next_after: int
    head: int


class CompoundLog(BaseModel):
    code: str
    events: list[LoggedEvent]


class CompoundAsOf(CompoundOut):
    position: int
    as_of: datetime | None


class ViewQuery(BaseModel):
    name: str
    params: list[str]
    required: list[str]
    doc: str


class ViewQueries(BaseModel):
    views: list[ViewQuery]


class Figure(BaseModel):
    view: str
    position: int
    as_of: datetime | None
    now: datetime
    params: dict[str, str]
    figure: Any = Field(description="what the live endpoint of the view answers")


class Seal(BaseModel):
    position: int
    digest: str
    sealed_at: str


class ChainState(BaseModel):
    head: int
    chained: int
    digest: str
    seals: int
    latest_seals: list[Seal]


class Finding(BaseModel):
    position: int
    kind: str
    detail: str


class Verification(BaseModel):
    ok: bool
    head: int
    chained: int
    events: int
    unchained: int
    seals_checked: int
    digest: str
    first: Finding | None
    findings: list[Finding]
    more: int


class Page(BaseModel):
    """A page of a list (api/routers/lists.py): the rows, and the cursor of the
    next page, null on the last (docs/queues.md)."""
    items: list[dict[str, Any]]
    next_cursor: str | None


class Health(BaseModel):
    """Admins and auditors get the details; others the first two."""
    status: str
    store: str = Field(description="reachable or unreachable")
    position: int = Field(None, description="the log's head")
    relay: dict[str, Any] = Field(None, description="the relay's lag, or its error")
    audit: dict[str, Any] = Field(None, description="the chain's head, or its error")


class Ready(BaseModel):
    ready: bool
    store: str
    views: dict[str, Any] = Field(description="positions_behind, or its error")
    relay: Any = Field(description="positions and seconds behind, its error, or not configured")


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Adds the Problem schema the error responses refer to (they name it
    under `application/problem+json`, where FastAPI's `model` cannot put it)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}), Problem=schema)
    return openapi
