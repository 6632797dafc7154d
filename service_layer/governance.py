"""Use cases: every change to a compound or company goes through here.

Each use case loads an aggregate, calls one of its verbs and saves what it
triggered. Writers racing on the same compound meet optimistic concurrency:
the loser reloads and runs its command again, a bounded number of times, so
no event is lost or duplicated and a repeat of the same fact stays a repeat.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.company import PropertyCompany
from domain.compound import Compound
from domain.exceptions import ConflictingRepeat, UnknownFact
from domain.ids import company_id, compound_id
from adapters.clock import Clock, command_at, now, utcnow
from adapters.eventstore import RedWhistle
from adapters.settings import Settings
from service_layer import snapshots
from service_layer.store.repository import Store

A = TypeVar("A", bound=Aggregate)
# A copy of the written state (service_layer/snapshots.py), taken while the
# write still holds the aggregate: once the use case returns, the next writer
# of the same compound may change the aggregate itself.
Snapshot = Callable[[Any], Any]


class InvalidField(ValueError):
    """Input that is well-formed but names something the configuration does
    not know (a department, a category); the API answers 422."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TooMuchContention(RuntimeError):
    """Concurrent writers kept winning; the client may retry (HTTP 503)."""


@dataclass(frozen=True)
class Outcome:
    snapshot: dict[str, Any]  # the state as written: the compound, the issue or the company
    created: bool  # False: the fact was already recorded, nothing was written
    position: int | None  # position in the log of the last event written


class Governance:
    def __init__(self, app: RedWhistle, settings: Settings, clock: Clock = utcnow,
                 group_commit: bool | None = None, store: Store | None = None) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock
        self.store = store or Store(app, settings, group_commit)
        # Writers in this process queue per compound instead of colliding;
        # optimistic concurrency still guards against other processes.
        self._stripes = [threading.Lock() for _ in range(1024)]
        self._streets: dict[str, str] = {}

    # -- reading ------------------------------------------------------------
    def compound(self, code: str) -> Compound:
        return self._get(compound_id(code), f"compound {code}")

    def street_of(self, code: str) -> str:
        """A compound's street, which registration fixes for good: remembered,
        so scope checks need not load the whole compound on every request."""
        street = self._streets.get(code)
        if street is None:
            street = self._streets[code] = self.compound(code).street
        return street

    def company(self, code: str) -> PropertyCompany:
        return self._get(company_id(code), f"property company {code}")

    def _get(self, aggregate_id: UUID, what: str) -> Any:
        try:
            return self.store.get(aggregate_id)
        except AggregateNotFoundError:
            raise UnknownFact(f"{what} is not registered") from None

    def _load(self, aggregate_id: UUID, what: str, check: bool) -> tuple[Any, bool]:
        """For a writer holding the aggregate's stripe lock (see write_cache.py)."""
        try:
            return self.store.load(aggregate_id, check)
        except AggregateNotFoundError:
            raise UnknownFact(f"{what} is not registered") from None

    # -- the one way every change is written ---------------------------------
    def _change(self, aggregate_id: UUID, what: str, command: Callable[[Any], None],
                snapshot: Snapshot) -> Outcome:
        check = self.settings.write_cache_check
        for attempt in range(self.settings.write_retries):
            # The clock is read holding the stripe, so one aggregate's events
            # are stamped in the order they are written.
            with self._stripes[aggregate_id.int % len(self._stripes)], command_at(self.clock()):
                aggregate, unchecked = self._load(aggregate_id, what, check)
                try:
                    command(aggregate)
                except Exception:
                    self.store.forget(aggregate_id)  # it may hold half a change
                    if not unchecked:
                        raise
                    check = True  # refused on memory alone: ask the store, decide again
                    continue
                if not aggregate.pending_events:
                    if unchecked:
                        check = True  # a repeat on memory alone: the same
                        continue
                    self.store.keep(aggregate)
                    return Outcome(snapshot(aggregate), created=False, position=None)
                try:
                    position = self.store.save(aggregate)
                except IntegrityError:
                    self.store.forget(aggregate_id)  # another process wrote first
                    check = True
                except BaseException:
                    self.store.forget(aggregate_id)  # it holds events never stored
                    raise
                else:
                    self.store.keep(aggregate)
                    return Outcome(snapshot(aggregate), created=True, position=position)
            # Replay on the new version after a jittered, capped backoff, so
            # racing processes spread out instead of colliding again.
            time.sleep(random.uniform(0, min(0.005 * 2 ** attempt, 0.25)))
        raise TooMuchContention(f"{what} is being changed by many writers at once; retry")

    def _create(self, aggregate_id: UUID, what: str, make: Callable[[], A],
                same: Callable[[A], bool], snapshot: Snapshot) -> Outcome:
        # The state here is this call's own (made or loaded fresh), never shared.
        for _ in range(self.settings.write_retries):
            try:
                existing = self._get(aggregate_id, what)
            except UnknownFact:
                with command_at(self.clock()):
                    aggregate = make()
                    try:
                        position = self.store.save(aggregate)
                    except IntegrityError:
                        continue
                return Outcome(snapshot(aggregate), created=True, position=position)
            if same(existing):
                return Outcome(snapshot(existing), created=False, position=None)
            raise ConflictingRepeat(f"{what} is already registered with different details")
        raise TooMuchContention(f"{what} is being registered by many writers at once; retry")

    @staticmethod
    def _at(at: datetime | None) -> datetime:
        """Inside a command: the fact's time as given, else the command's time
        of record, the moment the library also stamps its events with (see
        adapters/clock.py), so `at` and the audit chain's "recorded at" agree."""
        return at or now()

    def _known_departments(self, departments: list[str], field: str = "departments") -> None:
        unknown = [d for d in departments if d not in self.settings.departments]
        if unknown:
            raise InvalidField(field, f"unknown department {', '.join(unknown)}; known: "
                                      f"{', '.join(self.settings.departments)}")

    # -- compounds ------------------------------------------------------------
    # Each use case: checks against the configuration, then the aggregate's
    # verb as a named function that `_change` runs on the loaded aggregate
    # (again, on the reloaded one, when another writer came first), then save.
    # A verb on one issue answers with that issue, the others with the compound.
    def _compound(self, code: str, command: Callable[[Compound], None],
                  issue_id: str | None = None) -> Outcome:
        snapshot = (partial(snapshots.issue, issue_id=issue_id) if issue_id
                    else snapshots.compound)
        return self._change(compound_id(code), f"compound {code}", command, snapshot)

    def register_compound(self, *, at: datetime | None = None,
                          **fields: Any) -> Outcome:
        code = fields["code"]

        def register() -> Compound:
            return Compound.register(**fields, at=self._at(at))

        def same(compound: Compound) -> bool:
            return compound.is_same_registration(**fields)
        return self._create(compound_id(code), f"compound {code}", register, same,
                            snapshots.compound)

    def locate_compound(self, code: str, *, at: datetime | None = None,
                        **location: Any) -> Outcome:
        def locate(compound: Compound) -> None:
            compound.locate(**location, at=self._at(at))
        return self._compound(code, locate)

    def contract_property_company(self, code: str, *, company_code: str, starts_on: str,
                                  ends_on: str, at: datetime | None = None) -> Outcome:
        company = self.company(company_code)

        def contract(compound: Compound) -> None:
            compound.contract_property_company(
                company_code=company_code, company_name=company.name, starts_on=starts_on,
                ends_on=ends_on, at=self._at(at))
        return self._compound(code, contract)

    def blow_whistle(self, code: str, *, grid_worker: str, at: datetime | None = None,
                     **fields: Any) -> Outcome:
        self._known_departments(fields["departments"])
        if fields["category"] not in self.settings.categories:
            raise InvalidField("category", f"unknown category {fields['category']}; known: "
                                           f"{', '.join(self.settings.categories)}")

        def whistle(compound: Compound) -> None:
            compound.blow_whistle(**fields, grid_worker=grid_worker,
                                  policy=self.settings.deadlines, at=self._at(at))
        return self._compound(code, whistle, fields["issue_id"])

    def report_in(self, code: str, issue_id: str, *, department: str, officer: str,
                  at: datetime | None = None) -> Outcome:
        def report(compound: Compound) -> None:
            compound.report_in(issue_id=issue_id, department=department, officer=officer,
                               at=self._at(at))
        return self._compound(code, report, issue_id)

    def note_progress(self, code: str, issue_id: str, *, department: str, note: str,
                      at: datetime | None = None) -> Outcome:
        def progress(compound: Compound) -> None:
            compound.note_progress(issue_id=issue_id, department=department, note=note,
                                   at=self._at(at))
        return self._compound(code, progress, issue_id)

    def resolve(self, code: str, issue_id: str, *, department: str, how: str,
                at: datetime | None = None) -> Outcome:
        def resolve(compound: Compound) -> None:
            compound.resolve(issue_id=issue_id, department=department, how=how,
                             at=self._at(at))
        return self._compound(code, resolve, issue_id)

    def rate(self, code: str, issue_id: str, *, rating: str, comment: str | None,
             rated_by: str, at: datetime | None = None) -> Outcome:
        def rate(compound: Compound) -> None:
            compound.rate(issue_id=issue_id, rating=rating, comment=comment, rated_by=rated_by,
                          policy=self.settings.deadlines, at=self._at(at))
        return self._compound(code, rate, issue_id)

    def escalate_due(self, code: str, issue_id: str, at: datetime | None = None) -> Outcome:
        """Records the escalations an issue's deadlines call for, once each."""
        def escalate(compound: Compound) -> None:
            compound.escalate(issue_id=issue_id, at=self._at(at))
        return self._compound(code, escalate, issue_id)

    # Push-back (issue 14): each takes the compound verb's own keyword arguments.
    def decline(self, code: str, issue_id: str, *, at: datetime | None = None,
                **fields: Any) -> Outcome:
        def decline(compound: Compound) -> None:
            compound.decline(issue_id=issue_id, **fields, at=self._at(at))
        return self._compound(code, decline, issue_id)

    def decide_decline(self, code: str, issue_id: str, *, at: datetime | None = None,
                       **fields: Any) -> Outcome:
        def decide(compound: Compound) -> None:
            compound.decide_decline(issue_id=issue_id, **fields, at=self._at(at))
        return self._compound(code, decide, issue_id)

    def summon_department(self, code: str, issue_id: str, *, at: datetime | None = None,
                          **fields: Any) -> Outcome:
        self._known_departments([fields["department"]], "department")

        def summon(compound: Compound) -> None:
            compound.summon_department(issue_id=issue_id, **fields,
                                       policy=self.settings.deadlines, at=self._at(at))
        return self._compound(code, summon, issue_id)

    def request_extension(self, code: str, issue_id: str, *, at: datetime | None = None,
                          **fields: Any) -> Outcome:
        def request(compound: Compound) -> None:
            compound.request_extension(issue_id=issue_id, **fields, at=self._at(at))
        return self._compound(code, request, issue_id)

    def decide_extension(self, code: str, issue_id: str, *, at: datetime | None = None,
                         **fields: Any) -> Outcome:
        def decide(compound: Compound) -> None:
            compound.decide_extension(issue_id=issue_id, **fields, at=self._at(at))
        return self._compound(code, decide, issue_id)

    def close_as_duplicate(self, code: str, issue_id: str, *, at: datetime | None = None,
                           **fields: Any) -> Outcome:
        def close(compound: Compound) -> None:
            compound.close_as_duplicate(issue_id=issue_id, **fields, at=self._at(at))
        return self._compound(code, close, issue_id)

    def hold_joint_meeting(self, code: str, *, at: datetime | None = None,
                           **fields: Any) -> Outcome:
        for d in fields["decisions"]:
            self._known_departments(d.get("departments", []), "decisions.departments")

        def meet(compound: Compound) -> None:
            compound.hold_joint_meeting(**fields, at=self._at(at))
        return self._compound(code, meet)

    def elect_committee(self, code: str, *, at: datetime | None = None,
                        **fields: Any) -> Outcome:
        def elect(compound: Compound) -> None:
            compound.elect_committee(**fields, at=self._at(at))
        return self._compound(code, elect)

    def survey_satisfaction(self, code: str, *, at: datetime | None = None,
                            **fields: Any) -> Outcome:
        def survey(compound: Compound) -> None:
            compound.survey_satisfaction(**fields, at=self._at(at))
        return self._compound(code, survey)

    def record_incident(self, code: str, *, at: datetime | None = None,
                        **fields: Any) -> Outcome:
        if fields.get("company_code"):
            self.company(fields["company_code"])

        def record(compound: Compound) -> None:
            compound.record_incident(**fields, at=self._at(at))
        return self._compound(code, record)

    # -- property companies --------------------------------------------------
    def _company(self, code: str, command: Callable[[PropertyCompany], None]) -> Outcome:
        return self._change(company_id(code), f"property company {code}", command,
                            snapshots.company)

    def register_company(self, *, code: str, name: str, party_organisation: bool,
                         at: datetime | None = None) -> Outcome:
        fields = dict(code=code, name=name, party_organisation=party_organisation)

        def register() -> PropertyCompany:
            return PropertyCompany.register(**fields, at=self._at(at))

        def same(company: PropertyCompany) -> bool:
            return company.is_same_registration(**fields)
        return self._create(company_id(code), f"property company {code}", register, same,
                            snapshots.company)

    def establish_party_organisation(self, code: str, *, established_on: str,
                                     at: datetime | None = None) -> Outcome:
        def establish(company: PropertyCompany) -> None:
            company.establish_party_organisation(established_on=established_on,
                                                 at=self._at(at))
        return self._company(code, establish)

    def evaluate_company(self, code: str, *, year: int, level: str, scores: dict[str, float],
                         evaluator: str, at: datetime | None = None) -> Outcome:
        def evaluate(company: PropertyCompany) -> None:
            company.evaluate(year=year, level=level, scores=scores, evaluator=evaluator,
                             at=self._at(at))
        return self._company(code, evaluate)
