"""A synthetic city, seeded: the same seed and size give the same city.
One module, though long: the city and its year are one sequence of seeded
draws; split across files, a change in one would silently reshuffle the other.

The city has districts, streets, communities and compounds (households,
kinds, management modes, grids), property companies, departments and grid
workers, and a year of life whose mix follows the papers (docs/domain.md):

- whistles by category (fire lanes, flying-wire charging, clutter and
  parking are common; illegal construction and public security rarer), each
  summoning one to three departments, more often in old and "three-no"
  compounds and in the day time;
- every summoned department reports in, mostly well in time with a long
  tail (some late, a few never), which the deadline watcher escalates;
- progress notes, resolutions (some late or never), residents' ratings with
  some unsatisfied, which reopen the issue for another round;
- quarterly joint meetings discussing recent issues with decisions, owners'
  committee elections (some with party members below half), satisfaction
  surveys, rare incidents, property company changes, companies establishing
  party organisations, and the street and district evaluations at year end.

Everything is a `Command`: the name of a use case on `Governance` with its
arguments and an explicit `at` (admin-style import of history). `apply`
runs a command through the real use case; `http` turns it into the request
the API would receive; `BulkLoader` runs the same use cases with the
aggregates kept in memory and their events written in large transactions, to
load a city of millions of events in minutes.

Sizes (one flag, `--size`): tiny 12 compounds (tests), district 300 (about
100,000 events), city 3,000 (about 1 million), megacity 30,000 (about 10
million). A number of compounds is accepted too.

    python -m bench.city --size district --stats
    DATABASE_URL=postgresql://...?schema=x python -m bench.city --size city --load
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from domain.company import DIMENSIONS

SIZES = {"tiny": 12, "district": 300, "city": 3_000, "megacity": 30_000}
CST = timezone(timedelta(hours=8))

# category: (weight, primary departments, other departments often added, urgent share)
CATEGORIES: dict[str, tuple[float, tuple[str, ...], tuple[str, ...], float]] = {
    "blocked_fire_lane": (14, ("fire",), ("urban_management", "police"), 0.30),
    "flying_wire_charging": (12, ("fire",), ("street_office", "housing"), 0.35),
    "corridor_clutter": (12, ("fire",), ("sanitation", "street_office"), 0.10),
    "parking_disorder": (11, ("police",), ("urban_management",), 0.05),
    "leak": (9, ("housing",), ("water",), 0.15),
    "illegal_construction": (7, ("urban_management",), ("housing", "street_office"), 0.05),
    "cooking_fume": (6, ("environment",), ("market_regulation", "urban_management"), 0.02),
    "noise": (6, ("environment",), ("police", "urban_management"), 0.05),
    "elevator_fault": (6, ("elevator_safety",), ("market_regulation", "housing"), 0.45),
    "water_supply": (5, ("water",), ("housing",), 0.30),
    "green_space_misuse": (5, ("urban_management",), ("sanitation", "street_office"), 0.02),
    "public_security": (4, ("police",), ("street_office",), 0.25),
    "neighbour_dispute": (3, ("street_office",), ("police",), 0.05),
}
DESCRIPTIONS = {
    "blocked_fire_lane": "Cars and stalls block the fire lane by building {b}",
    "flying_wire_charging": "E-bikes charged on wires hung from windows of building {b}",
    "corridor_clutter": "Furniture and cartons piled in the stairwell of building {b}",
    "parking_disorder": "Cars parked on the lawn and at the gate of building {b}",
    "leak": "Water leaks through the roof into flats of building {b}",
    "illegal_construction": "A shed built on the ground floor garden of building {b}",
    "cooking_fume": "Restaurant fumes blow into the windows of building {b}",
    "noise": "Night-time noise from the shop under building {b}",
    "elevator_fault": "The lift of building {b} stops between floors",
    "water_supply": "The secondary water pump of building {b} fails, low pressure",
    "green_space_misuse": "Vegetables planted and chickens kept on the green by building {b}",
    "public_security": "Broken lights and an unlocked gate by building {b}",
    "neighbour_dispute": "Neighbours quarrel over a blocked corridor in building {b}",
}
KIND_WEIGHTS = {"old": 45, "commodity": 30, "resettlement": 15, "three_no": 10}
KIND_WHISTLE_FACTOR = {"old": 1.25, "commodity": 0.7, "resettlement": 1.0, "three_no": 1.4}
SOURCE_WEIGHTS = {"grid_patrol": 50, "hotline_12345": 30, "resident": 12, "property_company": 8}
WHISTLES_PER_COMPOUND = 57  # mean per year: about 333 events a compound with the rest
ORGANISATIONS = ("party_organisation", "residents_committee", "owners_committee",
                 "property_company", "department", "street_office")


@dataclass(frozen=True, slots=True)
class Command:
    """One use case call: `Governance.<op>(*args, **kwargs, at=at)`."""
    at: datetime
    op: str
    args: tuple
    kwargs: dict
    actor: str  # who would send it: grid worker, department or official name
    seq: int = 0

    @property
    def code(self) -> str | None:
        return self.args[0] if self.args else self.kwargs.get("code")


@dataclass
class CompoundSpec:
    index: int
    code: str
    name: str
    district: str
    street: str
    community: str
    grids: list[str]
    households: int
    kind: str
    management_mode: str
    company: str | None
    grid_worker: str


@dataclass
class City:
    seed: int
    year: int
    compounds: list[CompoundSpec]
    companies: dict[str, dict[str, Any]]
    departments: tuple[str, ...]
    districts: list[str]
    streets: list[str]
    communities: list[str]
    grid_workers: list[str]

    @property
    def start(self) -> datetime:
        return datetime(self.year, 1, 1, tzinfo=CST)

    @property
    def end(self) -> datetime:
        return datetime(self.year + 1, 1, 1, tzinfo=CST)

    # -- the commands --------------------------------------------------------
    def setup_commands(self) -> Iterator[Command]:
        """Companies and compounds as they stand before the year begins."""
        at = self.start - timedelta(days=30)
        for code, c in self.companies.items():
            yield Command(at, "register_company", (), dict(code=code, name=c["name"],
                          party_organisation=c["party_organisation"]), "district-official")
        for spec in self.compounds:
            rng = _rng(self.seed, "setup", spec.index)
            yield Command(at, "register_compound", (), dict(
                code=spec.code, name=spec.name, district=spec.district, street=spec.street,
                community=spec.community, grids=list(spec.grids), households=spec.households,
                kind=spec.kind, management_mode=spec.management_mode), "district-official")
            if spec.company:
                starts = date(self.year - rng.randint(0, 4), rng.randint(1, 12), 1)
                yield Command(at, "contract_property_company", (spec.code,), dict(
                    company_code=spec.company, starts_on=starts.isoformat(),
                    ends_on=_years_later(starts, rng.choice((3, 5))).isoformat()),
                    f"official-{spec.street}")
            if spec.kind != "three_no":
                term_start = date(self.year - rng.randint(0, 4), rng.randint(1, 12), 1)
                yield Command(at, "elect_committee", (spec.code,),
                              _election(rng, term_start), f"official-{spec.street}")

    def compound_year(self, spec: CompoundSpec) -> list[Command]:
        """One compound's year, in time order; seeded by the compound alone, so
        any compound's year can be generated without the others."""
        return _CompoundYear(self, spec).commands()

    def company_year(self) -> list[Command]:
        rng = _rng(self.seed, "companies", self.year)
        out: list[Command] = []
        for code, c in self.companies.items():
            if not c["party_organisation"] and rng.random() < 0.3:
                day = self.start + timedelta(days=rng.randint(30, 300), hours=10)
                out.append(Command(day, "establish_party_organisation", (code,),
                                   dict(established_on=day.date().isoformat()),
                                   "district-official"))
            quality = c["quality"]
            for level, month_day in (("street", (12, 10)), ("district", (12, 20))):
                scores = {d: round(min(20.0, max(8.0, rng.gauss(quality, 1.5))), 1)
                          for d in DIMENSIONS}
                at = datetime(self.year, *month_day, 15, tzinfo=CST)
                out.append(Command(at, "evaluate_company", (code,), dict(
                    year=self.year, level=level, scores=scores,
                    evaluator=f"{level}-evaluation-team"), f"{level}-official"))
        out.sort(key=lambda c: (c.at, c.seq))
        return out

    def year_commands(self, compounds: Iterable[CompoundSpec] | None = None,
                      companies: bool = True) -> Iterator[Command]:
        """The year of the given compounds (all by default) merged in time order."""
        specs = list(self.compounds if compounds is None else compounds)
        streams = [self.compound_year(s) for s in specs]
        if companies:
            streams.append(self.company_year())
        return heapq.merge(*streams, key=lambda c: (c.at, c.seq))

    def commands(self, block: int = 1000) -> Iterator[Command]:
        """Setup, then the year. Compounds are taken `block` at a time (each
        block in time order) so a megacity's year is never all in memory."""
        yield from self.setup_commands()
        for i in range(0, len(self.compounds), block):
            yield from self.year_commands(self.compounds[i:i + block],
                                          companies=i + block >= len(self.compounds))

    def whistles(self, limit: int | None = None, seed: int = 0) -> list[Command]:
        """Only the whistles of the year (for ingest), in time order."""
        out = []
        for spec in self.compounds:
            out += [c for c in self.compound_year(spec) if c.op == "blow_whistle"]
        out.sort(key=lambda c: (c.at, c.seq))
        return out[:limit] if limit else out


# -- generating the city --------------------------------------------------------
def _rng(*parts: Any) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _years_later(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def compounds_for(size: str | int) -> int:
    if isinstance(size, int) or str(size).isdigit():
        return int(size)
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"size must be one of {', '.join(SIZES)} or a number") from None


def generate(size: str | int = "district", seed: int = 7, year: int = 2025,
             departments: tuple[str, ...] | None = None) -> City:
    from adapters.settings import DEFAULT_DEPARTMENTS
    n = compounds_for(size)
    rng = _rng(seed, "city", n)
    n_districts = max(1, math.ceil(n / 384))
    n_streets = max(1, math.ceil(n / 32))
    n_communities = max(1, math.ceil(n / 4))
    districts = [f"D{d:02d}" for d in range(1, n_districts + 1)]
    streets = [f"{districts[s * n_districts // n_streets]}-S{s + 1:03d}" for s in range(n_streets)]
    communities = [f"{streets[c * n_streets // n_communities]}-C{c + 1:04d}"
                   for c in range(n_communities)]
    n_companies = max(3, n // 10)
    companies = {}
    for i in range(n_companies):
        code = f"PC-{i + 1:05d}"
        companies[code] = dict(name=f"Property Company {i + 1} 物业", quality=rng.gauss(16.5, 1.5),
                               party_organisation=rng.random() < 0.7)
    company_codes = list(companies)
    specs = []
    for i in range(n):
        community = communities[i * n_communities // n]
        street = community.rsplit("-", 1)[0]
        district = street.split("-")[0]
        kind = _weighted(rng, KIND_WEIGHTS)
        households = max(40, int(rng.lognormvariate(math.log(600), 0.6)))
        grids = [f"G{g}" for g in range(1, min(4, 1 + households // 500) + 1)]
        if kind == "three_no":
            mode, company = "self_managed", None
        else:
            mode = _weighted(rng, {"professional": 70, "entrusted": 20, "self_managed": 10})
            company = None if mode == "self_managed" else rng.choice(company_codes)
        code = f"{district}-{i + 1:06d}"
        specs.append(CompoundSpec(i, code, f"{community} 第{i + 1}小区", district, street,
                                  community, grids, households, kind, mode, company,
                                  f"gw-{community}"))
    return City(seed=seed, year=year, compounds=specs, companies=companies,
                departments=tuple(departments or DEFAULT_DEPARTMENTS), districts=districts,
                streets=streets, communities=communities,
                grid_workers=sorted({s.grid_worker for s in specs}))


def _election(rng: random.Random, term_start: date) -> dict[str, Any]:
    size = rng.choice((5, 5, 7, 7, 9))
    party_share = rng.choice((0.3, 0.4, 0.5, 0.6, 0.6, 0.7, 0.8))  # some below half
    members = []
    for m in range(size):
        members.append(dict(name=f"Member {m + 1}",
                            role="director" if m == 0 else ("deputy_director" if m == 1
                                                            else "member"),
                            party_member=rng.random() < party_share,
                            cross_appointed=rng.random() < 0.2))
    return dict(term_start=term_start.isoformat(),
                term_end=_years_later(term_start, 5).isoformat(),
                members=members)


class _CompoundYear:
    def __init__(self, city: City, spec: CompoundSpec) -> None:
        self.city = city
        self.spec = spec
        self.rng = _rng(city.seed, "year", city.year, spec.index)
        self.out: list[Command] = []
        self.issues: list[tuple[datetime, str]] = []

    def add(self, at: datetime, op: str, actor: str, *args: Any, **kwargs: Any) -> None:
        if self.city.start <= at < self.city.end:
            self.out.append(Command(at, op, (self.spec.code, *args), kwargs, actor,
                                    seq=self.spec.index * 10_000_000 + len(self.out)))

    def commands(self) -> list[Command]:
        rng, spec, city = self.rng, self.spec, self.city
        rate = (WHISTLES_PER_COMPOUND * KIND_WHISTLE_FACTOR[spec.kind]
                * (spec.households / 700) ** 0.5)
        n = max(0, int(round(rng.gauss(rate, math.sqrt(rate)))))
        for _ in range(n):
            self.whistle(city.start + timedelta(days=rng.uniform(0, 364)))
        self.governance()
        self.out.sort(key=lambda c: (c.at, c.seq))
        return self.out

    def whistle(self, day: datetime) -> None:
        rng, spec = self.rng, self.spec
        category = _weighted(rng, {k: v[0] for k, v in CATEGORIES.items()})
        _, primary, others, urgent_share = CATEGORIES[category]
        departments = list(primary)
        extra = rng.choices((0, 1, 2), weights=(45, 40, 15))[0]
        departments += rng.sample(others, min(extra, len(others)))
        departments = [d for d in departments if d in self.city.departments] or \
            [self.city.departments[0]]
        urgency = "urgent" if rng.random() < urgent_share else "normal"
        hour = min(23.5, max(6.0, rng.gauss(13, 3.5)))
        blown = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=hour)
        issue_id = _uuid(rng)
        grid = rng.choice(spec.grids)
        building = str(rng.randint(1, max(1, spec.households // 60)))
        self.add(blown, "blow_whistle", spec.grid_worker, grid_worker=spec.grid_worker,
                 issue_id=issue_id, category=category,
                 description=DESCRIPTIONS[category].format(b=building), departments=departments,
                 urgency=urgency, source=_weighted(rng, SOURCE_WEIGHTS), grid=grid,
                 building=building, unit=str(rng.randint(1, 6)))
        self.issues.append((blown, issue_id))
        urgent = urgency == "urgent"
        report_due = blown + timedelta(hours=2 if urgent else 24)
        reported: list[datetime] = []
        late = False
        for dept in departments:
            if rng.random() < 0.02:
                late = True  # never reports in
                continue
            delay = rng.lognormvariate(math.log(0.7 if urgent else 5.0), 0.9 if urgent else 1.0)
            at = blown + timedelta(hours=delay)
            late |= at > report_due
            reported.append(at)
            self.add(at, "report_in", f"officer-{dept}", issue_id, department=dept,
                     officer=f"officer-{dept}-{rng.randint(1, 9)}")
        if late:  # the deadline watcher records the escalation
            self.add(report_due + timedelta(minutes=15), "escalate_due", "deadline-watcher",
                     issue_id)
        start = max(reported) if reported else blown
        self.cycles(issue_id, departments, blown, start, urgent)

    def cycles(self, issue_id: str, departments: list[str], blown: datetime, start: datetime,
               urgent: bool) -> None:
        rng = self.rng
        since = blown
        for cycle in range(3):
            if rng.random() < 0.03:
                self.escalate_unresolved(issue_id, since, urgent)
                return  # still open when the year ends (or later)
            median = 10 if urgent else 48
            resolved = start + timedelta(hours=rng.lognormvariate(math.log(median), 0.8))
            for _ in range(rng.choices((0, 1, 2), weights=(35, 45, 20))[0]):
                at = start + (resolved - start) * rng.uniform(0.1, 0.9)
                dept = rng.choice(departments)
                self.add(at, "note_progress", f"officer-{dept}", issue_id, department=dept,
                         note=rng.choice(("Site visited", "Owners notified",
                                          "Contractor booked", "Materials ordered",
                                          "Rectification notice served")))
            if resolved > since + timedelta(hours=24 if urgent else 168):
                self.escalate_unresolved(issue_id, since, urgent)
            dept = departments[0] if cycle == 0 else rng.choice(departments)
            self.add(resolved, "resolve", f"officer-{dept}", issue_id, department=dept,
                     how=rng.choice(("Removed and cleared", "Repaired", "Owners persuaded",
                                     "Fined and rectified", "Mediated", "Replaced the part")))
            if rng.random() > 0.85:
                return  # not rated
            rated = resolved + timedelta(hours=rng.uniform(4, 72))
            unsatisfied = 0.08 if cycle == 0 else 0.05
            rating = rng.choices(("satisfied", "basically_satisfied", "unsatisfied"),
                                 weights=(1 - 0.2 - unsatisfied, 0.2, unsatisfied))[0]
            self.add(rated, "rate", self.spec.grid_worker, issue_id, rating=rating,
                     comment="back again" if rating == "unsatisfied" else None,
                     rated_by=self.spec.grid_worker)
            if rating != "unsatisfied":
                return
            since = start = rated  # reopened: another round

    def escalate_unresolved(self, issue_id: str, since: datetime, urgent: bool) -> None:
        due = since + timedelta(hours=24 if urgent else 168)
        self.add(due + timedelta(minutes=15), "escalate_due", "deadline-watcher", issue_id)

    def governance(self) -> None:
        rng, spec, city = self.rng, self.spec, self.city
        official = f"official-{spec.street}"
        for quarter in range(4):
            held = city.start + timedelta(days=quarter * 91 + rng.randint(20, 80), hours=15)
            recent = [i for at, i in self.issues if held - timedelta(days=90) <= at < held]
            discussed = rng.sample(recent, min(len(recent), rng.randint(0, 3)))
            decisions = []
            for issue_id in discussed[:2]:
                decisions.append(dict(text="Follow up and report back", owner="Secretary",
                                      due_on=(held + timedelta(days=rng.randint(14, 60)))
                                      .date().isoformat(),
                                      issue_id=issue_id, departments=[]))
            attendees = [dict(name=f"{o} rep", organisation=o)
                         for o in ORGANISATIONS if rng.random() < 0.8] or \
                [dict(name="Secretary", organisation="party_organisation")]
            self.add(held, "hold_joint_meeting", official, meeting_id=_uuid(rng),
                     held_on=held.date().isoformat(), attendees=attendees,
                     issues_discussed=discussed, decisions=decisions)
        if spec.kind != "three_no" and rng.random() < 0.2:
            at = city.start + timedelta(days=rng.randint(30, 330), hours=10)
            if at.day == 1:  # setup terms start on a 1st: not the same election twice
                at += timedelta(days=1)
            self.add(at, "elect_committee", official, **_election(rng, at.date()))
        for s in range(rng.choice((1, 2, 2))):
            at = city.start + timedelta(days=rng.randint(150, 340) if s == 0
                                        else rng.randint(20, 140), hours=11)
            self.add(at, "survey_satisfaction", official, survey_id=_uuid(rng), year=city.year,
                     surveyed_on=at.date().isoformat(), respondents=rng.randint(30, 300),
                     score=round(min(100.0, max(40.0, rng.gauss(87, 6))), 1))
        for kind, chance in (("safety_accident", 0.01), ("mass_incident", 0.005),
                             ("violation", 0.02)):
            if rng.random() < chance:
                at = city.start + timedelta(days=rng.randint(0, 360), hours=9)
                self.add(at, "record_incident", official, incident_id=_uuid(rng), kind=kind,
                         occurred_on=at.date().isoformat(),
                         description=f"{kind.replace('_', ' ')} reported by the street",
                         company_code=None)
        if spec.company and rng.random() < 0.05:
            at = city.start + timedelta(days=rng.randint(60, 300), hours=10)
            other = rng.choice(list(city.companies))
            self.add(at, "contract_property_company", official, company_code=other,
                     starts_on=at.date().isoformat(),
                     ends_on=_years_later(at.date(), 3).isoformat())


# -- running the commands -------------------------------------------------------
def apply(governance: Any, command: Command) -> Any:
    """Runs the command through the real use case, with its explicit time."""
    return getattr(governance, command.op)(*command.args, **command.kwargs, at=command.at)


def http(command: Command) -> tuple[str, str, dict[str, Any]] | None:
    """(method, path, JSON body) of the API request that carries the command,
    as an admin importing history would send it (with `at`); None for the
    escalations, which the deadline watcher records without a request."""
    op, a, k = command.op, command.args, dict(command.kwargs)
    at = command.at.isoformat()
    if op == "register_company":
        return "POST", "/v1/companies", dict(k, at=at)
    if op == "register_compound":
        return "POST", "/v1/compounds", dict(k, at=at)
    if op == "establish_party_organisation":
        return "POST", f"/v1/companies/{a[0]}/party-organisation", dict(k, at=at)
    if op == "evaluate_company":
        k.pop("evaluator")
        return "POST", f"/v1/companies/{a[0]}/evaluations", dict(k, at=at)
    base = f"/v1/compounds/{a[0]}"
    if op == "blow_whistle":
        k.pop("grid_worker")
        return "POST", f"{base}/whistles", dict(k, at=at)
    paths = {"contract_property_company": "property-contracts",
             "elect_committee": "committee-elections", "hold_joint_meeting": "joint-meetings",
             "survey_satisfaction": "surveys", "record_incident": "incidents"}
    if op in paths:
        return "POST", f"{base}/{paths[op]}", dict(k, at=at)
    issue = f"{base}/issues/{a[1]}" if len(a) > 1 else ""
    if op == "report_in":
        return "POST", f"{issue}/reports", dict(k, at=at)
    if op == "note_progress":
        return "POST", f"{issue}/progress", dict(k, at=at)
    if op == "resolve":
        return "POST", f"{issue}/resolution", dict(k, at=at)
    if op == "rate":
        k.pop("rated_by")
        return "POST", f"{issue}/ratings", dict(k, at=at)
    if op == "escalate_due":
        return None
    raise ValueError(f"no request for {op}")


class BulkLoader:
    """Runs commands through the real use cases, but keeps the aggregates in
    memory between commands and writes their events in large transactions
    (with the snapshots the application would have taken). For loading a
    city; the live server writes each request as it comes."""

    def __init__(self, services: Any, flush_events: int = 5000) -> None:
        from service_layer.governance import Governance
        from service_layer.store.repository import Store
        self.services = services
        self.flush_events = flush_events
        loader = self

        class _Bulk(Store):
            def get(self, aggregate_id):
                found = loader.cache.get(aggregate_id)
                if found is None:
                    found = loader.cache[aggregate_id] = super().get(aggregate_id)
                return found

            def load(self, aggregate_id, check):
                return self.get(aggregate_id), False  # its own cache is the truth

            def keep(self, aggregate):
                pass

            def forget(self, aggregate_id):
                pass

            def save(self, *aggregates):
                for a in aggregates:
                    loader.cache[a.id] = a
                    loader.dirty[a.id] = a
                loader.pending += sum(len(a.pending_events) for a in aggregates)
                return None

        self.governance = Governance(services.app, services.settings,
                                     store=_Bulk(services.app, services.settings,
                                                 group_commit=False))
        self.cache: dict[Any, Any] = {}
        self.dirty: dict[Any, Any] = {}
        self.snapshot_at: dict[Any, int] = {}
        self.pending = 0
        self.events = 0
        self.commands = 0

    def run(self, commands: Iterable[Command], progress: Any = None) -> int:
        for command in commands:
            apply(self.governance, command)
            self.commands += 1
            if self.pending >= self.flush_events:
                self.flush()
                if progress:
                    progress(self)
        self.flush()
        if progress:
            progress(self)
        return self.events

    def flush(self) -> None:
        from domain.compound import Compound
        app = self.services.app
        events = [e for a in self.dirty.values() for e in a.collect_events()]
        if events:
            interval = app.snapshotting_intervals.get(Compound, 0)
            snapshots = []
            for a in self.dirty.values():
                if interval and app.snapshots is not None and \
                        a.version // interval > self.snapshot_at.get(a.id, 0) // interval:
                    snapshot_class = getattr(type(a), "Snapshot", type(app).snapshot_class)
                    snapshots.append(snapshot_class.take(a))
                    self.snapshot_at[a.id] = a.version
            if self.services.db.is_postgres:
                copy_events(self.services, events, snapshots)
            else:
                app.events.put(events)
                if snapshots:
                    app.snapshots.put(snapshots)
        self.events += len(events)
        self.pending = 0
        self.dirty.clear()
        # Keep companies (few, referred to by every block); let compounds go
        # (a compound's commands come in one block of `City.commands`; one
        # still in use is read back from the store). A year-old compound
        # takes about 0.4 MB here, so a megacity is never all in memory.
        from domain.company import PropertyCompany
        companies = {k: v for k, v in self.cache.items() if isinstance(v, PropertyCompany)}
        if len(self.cache) - len(companies) > 2_500:
            self.cache = companies


def copy_events(services: Any, events: list[Any], snapshots: list[Any] = (),
                table: str | None = None) -> None:
    """Writes domain events (and snapshots) with PostgreSQL's COPY, in one
    transaction holding the same table lock as the library's inserts, so the
    positions still commit in order. The fast path for loading a city, and
    the database's own limit in the ingest benchmark."""
    app = services.app
    datastore = app.factory.datastore
    schema = datastore.schema or "public"
    events_table = table or app.recorder.events_table_name
    rows = [app.mapper.to_stored_event(e) for e in events]
    snaps = [app.mapper.to_stored_event(e) for e in snapshots]
    with datastore.transaction(commit=True) as cur:
        cur.execute(f'LOCK TABLE "{schema}"."{events_table}" IN EXCLUSIVE MODE')
        _copy(cur, f'"{schema}"."{events_table}"', rows)
        if snaps:
            _copy(cur, f'"{schema}"."{app.snapshots.recorder.events_table_name}"', snaps)


def _copy(cur: Any, table: str, rows: list[Any]) -> None:
    sql = (f"COPY {table} (originator_id, originator_version, topic, state) "
           "FROM STDIN (FORMAT BINARY)")
    with cur.copy(sql) as copy:
        copy.set_types(["uuid", "int8", "text", "bytea"])
        for r in rows:
            copy.write_row((r.originator_id, r.originator_version, r.topic, r.state))


def load(services: Any, city: City, progress: Any = None) -> dict[str, float]:
    """Loads the whole city (setup and year) into the store; returns counts."""
    loader = BulkLoader(services)
    t0 = time.perf_counter()
    loader.run(city.commands(), progress)
    seconds = time.perf_counter() - t0
    return dict(commands=loader.commands, events=loader.events, seconds=seconds,
                events_per_second=loader.events / seconds if seconds else 0.0)


def stats(city: City) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for c in city.commands():
        counts[c.op] = counts.get(c.op, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.city", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="district", help=f"{', '.join(SIZES)} or a number")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--stats", action="store_true", help="count the commands by use case")
    parser.add_argument("--load", action="store_true",
                        help="load the city into DATABASE_URL (the store must be empty)")
    args = parser.parse_args(argv)
    city = generate(args.size, args.seed, args.year)
    print(f"{len(city.compounds)} compounds, {len(city.companies)} companies, "
          f"{len(city.streets)} streets, {len(city.communities)} communities, "
          f"{len(city.districts)} districts, {len(city.grid_workers)} grid workers")
    if args.stats:
        counts = stats(city)
        for op, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {op:32s} {n:>10,}")
        print(f"  {'commands':32s} {sum(counts.values()):>10,}")
    if args.load:
        from service_layer.bootstrap import bootstrap
        services = bootstrap()
        try:
            from cli.progress import Progress
            with Progress(unit="commands") as bar:
                result = load(services, city, lambda loader: bar("load", loader.commands))
            print(f"loaded {result['events']:,} events from {result['commands']:,} commands in "
                  f"{result['seconds']:.1f} s ({result['events_per_second']:,.0f} events/s)")
        finally:
            services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
