"""A property company (物业企业) and its annual evaluations.

Each year the street/community and the district each score the company on
five dimensions, 0–20 points apiece; the rankings combine the two levels 5:5.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.exceptions import RuleBroken
from domain.ids import company_id
from domain.repeats import fingerprint, is_repeat

DIMENSIONS = ("organisation", "team", "daily_management", "service_quality", "public_image")
LEVELS = ("street", "district")


class PropertyCompany(Aggregate):
    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return company_id(code)

    @event("Registered")
    def __init__(self, code: str, name: str, party_organisation: bool, fingerprint: str,
                 at: datetime) -> None:
        self.code = code
        self.name = name
        self.party_organisation = party_organisation
        self.registered_fingerprint = fingerprint
        self.registered_at = at
        self.evaluations: dict[str, dict[str, Any]] = {}
        self.fingerprints: dict[str, str] = {}

    @classmethod
    def register(cls, *, code: str, name: str, party_organisation: bool,
                 at: datetime) -> "PropertyCompany":
        fields = dict(code=code, name=name, party_organisation=party_organisation)
        return cls(**fields, fingerprint=fingerprint(fields), at=at)

    def is_same_registration(self, **fields: Any) -> bool:
        return self.registered_fingerprint == fingerprint(fields)

    def establish_party_organisation(self, *, established_on: str, at: datetime) -> None:
        if self.party_organisation:
            return
        self._party_organisation_established(established_on=established_on, at=at)

    @event("PartyOrganisationEstablished")
    def _party_organisation_established(self, established_on: str, at: datetime) -> None:
        self.party_organisation = True

    def evaluate(self, *, year: int, level: str, scores: dict[str, float], evaluator: str,
                 at: datetime) -> None:
        if level not in LEVELS:
            raise RuleBroken(f"evaluation level must be one of {', '.join(LEVELS)}")
        if set(scores) != set(DIMENSIONS):
            raise RuleBroken(f"an evaluation scores exactly: {', '.join(DIMENSIONS)}")
        for dimension, score in scores.items():
            if not 0 <= score <= 20:
                raise RuleBroken(f"the {dimension} score lies between 0 and 20")
        fields = dict(year=year, level=level, scores=dict(scores))
        if is_repeat(self.fingerprints, f"evaluation {year} {level}", fields):
            return
        self._evaluated(year=year, level=level, scores=dict(scores), total=sum(scores.values()),
                        evaluator=evaluator, fingerprint=fingerprint(fields), at=at)

    @event("Evaluated")
    def _evaluated(self, year: int, level: str, scores: dict[str, float], total: float,
                   evaluator: str, fingerprint: str, at: datetime) -> None:
        self.fingerprints[f"evaluation {year} {level}"] = fingerprint
        self.evaluations[f"{year} {level}"] = dict(year=year, level=level, scores=scores,
                                                   total=total, evaluator=evaluator, at=at)
