"""Request bodies. Unknown fields are refused so a typo is a 422, not a
silently dropped fact. `at` is for admins importing history only. Every
field is bounded by what every store and view can hold (adapters/limits.py):
text without control characters, counts within INTEGER, finite scores, dates
within the window, lists of bounded length."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from adapters.limits import (CODE, EARLIEST, LATEST, MAX_COUNT, MAX_DEPARTMENTS, MAX_ITEMS,
                                  check_day, check_free_text, check_moment, check_name)

CODE_PATTERN = rf"^{CODE.pattern}$"
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]
Text = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(check_free_text)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_name)]
Day = Annotated[date, AfterValidator(check_day)]
Year = Annotated[int, Field(ge=EARLIEST.year, le=LATEST.year)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Departments = Annotated[list[Code], Field(max_length=MAX_DEPARTMENTS)]

# Path parameters: a compound's or company's code, an issue id (a UUID, or
# any code an importer used), a community's name.
CodeInPath = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN)]
NameInPath = Annotated[str, Path(min_length=1, max_length=200), AfterValidator(check_name)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a timezone, e.g. 2026-05-01T09:00:00+08:00")
    return value if value is None else check_moment(value)


At = Annotated[datetime | None, AfterValidator(_aware)]

Latitude = Annotated[float | None, Field(ge=-90, le=90)]  # WGS-84 degrees
Longitude = Annotated[float | None, Field(ge=-180, le=180)]
Zipcode = Annotated[str | None, Field(pattern=r"^[0-9]{6}$")]  # China's postal codes


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: At = None


class CompoundIn(Body):
    code: Code
    name: Name
    district: Name
    street: Name
    community: Name
    grids: list[Name] = Field(default_factory=list, max_length=MAX_ITEMS)
    households: Count
    kind: Literal["commodity", "old", "resettlement", "three_no"]
    management_mode: Literal["professional", "entrusted", "self_managed"]
    # Optional WGS-84 location (docs/open311.md: GCJ-02 from Chinese map apps must be converted).
    latitude: Latitude = None
    longitude: Longitude = None
    address: Name | None = None
    zipcode: Zipcode = None


class LocationIn(Body):
    latitude: Latitude = None
    longitude: Longitude = None
    address: Name | None = None
    zipcode: Zipcode = None


class ContractIn(Body):
    company_code: Code
    starts_on: Day
    ends_on: Day


class WhistleIn(Body):
    issue_id: UUID
    category: Code
    description: Text
    departments: Departments = Field(min_length=1)
    urgency: Literal["normal", "urgent"] = "normal"
    source: Literal["grid_patrol", "hotline_12345", "resident", "property_company", "open311"]
    grid: Name | None = None
    building: Name | None = None
    unit: Name | None = None


class ReportIn(Body):
    department: Code
    officer: Name


class ProgressIn(Body):
    department: Code
    note: Text


class ResolutionIn(Body):
    department: Code
    how: Text


class RatingIn(Body):
    rating: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    comment: Text | None = None


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    role: Literal["director", "deputy_director", "member"]
    party_member: bool
    cross_appointed: bool = False


class ElectionIn(Body):
    term_start: Day
    term_end: Day
    members: list[MemberIn] = Field(min_length=1, max_length=MAX_ITEMS)


class AttendeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    organisation: Literal["party_organisation", "residents_committee", "owners_committee",
                          "property_company", "department", "street_office", "resident"]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text
    owner: Name
    due_on: Day
    issue_id: UUID | None = None
    departments: Departments = Field(default_factory=list)


class MeetingIn(Body):
    meeting_id: UUID
    held_on: Day
    attendees: list[AttendeeIn] = Field(min_length=1, max_length=MAX_ITEMS)
    issues_discussed: list[UUID] = Field(default_factory=list, max_length=MAX_ITEMS)
    decisions: list[DecisionIn] = Field(default_factory=list, max_length=MAX_ITEMS)


class SurveyIn(Body):
    survey_id: UUID
    year: Year
    surveyed_on: Day
    respondents: int = Field(ge=1, le=MAX_COUNT)
    score: float = Field(ge=0, le=100, allow_inf_nan=False)


class IncidentIn(Body):
    incident_id: UUID
    kind: Literal["safety_accident", "mass_incident", "violation"]
    occurred_on: Day
    description: Text
    company_code: Code | None = None


class CompanyIn(Body):
    code: Code
    name: Name
    party_organisation: bool = False


class PartyOrganisationIn(Body):
    established_on: Day


Score = Annotated[float, Field(ge=0, le=20, allow_inf_nan=False)]


class ScoresIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation: Score
    team: Score
    daily_management: Score
    service_quality: Score
    public_image: Score


class EvaluationIn(Body):
    year: Year
    level: Literal["street", "district"]
    scores: ScoresIn
