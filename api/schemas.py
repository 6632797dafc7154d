"""Request bodies. Unknown fields are refused so a typo is a 422, not a
silently dropped fact. `at` is for admins importing history only."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a timezone, e.g. 2026-05-01T09:00:00+08:00")
    return value


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
    grids: list[Name] = Field(default_factory=list)
    households: int = Field(ge=0)
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
    starts_on: date
    ends_on: date


class WhistleIn(Body):
    issue_id: UUID
    category: Code
    description: Text
    departments: list[Code] = Field(min_length=1)
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
    term_start: date
    term_end: date
    members: list[MemberIn] = Field(min_length=1)


class AttendeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    organisation: Literal["party_organisation", "residents_committee", "owners_committee",
                          "property_company", "department", "street_office", "resident"]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text
    owner: Name
    due_on: date
    issue_id: UUID | None = None
    departments: list[Code] = Field(default_factory=list)


class MeetingIn(Body):
    meeting_id: UUID
    held_on: date
    attendees: list[AttendeeIn] = Field(min_length=1)
    issues_discussed: list[UUID] = Field(default_factory=list)
    decisions: list[DecisionIn] = Field(default_factory=list)


class SurveyIn(Body):
    survey_id: UUID
    year: int = Field(ge=2000, le=2100)
    surveyed_on: date
    respondents: int = Field(ge=1)
    score: float = Field(ge=0, le=100)


class IncidentIn(Body):
    incident_id: UUID
    kind: Literal["safety_accident", "mass_incident", "violation"]
    occurred_on: date
    description: Text
    company_code: Code | None = None


class CompanyIn(Body):
    code: Code
    name: Name
    party_organisation: bool = False


class PartyOrganisationIn(Body):
    established_on: date


Score = Annotated[float, Field(ge=0, le=20)]


class ScoresIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation: Score
    team: Score
    daily_management: Score
    service_quality: Score
    public_image: Score


class EvaluationIn(Body):
    year: int = Field(ge=2000, le=2100)
    level: Literal["street", "district"]
    scores: ScoresIn
