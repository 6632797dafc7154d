"""A small, realistic district for a newcomer to look at: three streets, six
communities, 36 compounds, five property companies and a month of whistles,
report-ins, resolutions and ratings, with a committee election, a joint
meeting, surveys and evaluations. Seeded, so every demo is the same district
(timestamps are relative to the moment it is loaded)."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from service_layer.bootstrap import Services

STREETS = {"Xinjiekou": ["Huayuan", "Zhanlan"], "Beitaipingzhuang": ["Jimen", "Taiping"],
           "Shichahai": ["Houhai", "Yandai"]}
COMPANIES = [("PC-JH", "Jinhui Property"), ("PC-HY", "Huayu Services"),
             ("PC-AJ", "Anju Property"), ("PC-MF", "Mingfeng Management"),
             ("PC-XY", "Xinyuan Property")]
CATEGORY_DEPARTMENTS = {
    "blocked_fire_lane": ["fire", "urban_management"], "flying_wire_charging": ["fire"],
    "illegal_construction": ["urban_management", "housing"], "leak": ["housing"],
    "elevator_fault": ["elevator_safety"], "water_supply": ["water"], "noise": ["police"],
    "cooking_fume": ["environment", "market_regulation"], "corridor_clutter": ["fire"],
    "parking_disorder": ["urban_management", "police"], "neighbour_dispute": ["street_office"],
}
DEMO_NAMESPACE = uuid.UUID("5f0c2a1e-0000-4000-8000-00000000d3e0")


def _id(*parts: object) -> str:
    return str(uuid.uuid5(DEMO_NAMESPACE, "/".join(map(str, parts))))


def load_demo(services: Services, now: datetime, seed: int = 2026) -> int:
    """Loads the demo district; returns the number of compounds."""
    rnd = random.Random(seed)
    gov = services.governance
    start = now - timedelta(days=30)
    for code, name in COMPANIES:
        gov.register_company(code=code, name=name, party_organisation=code != "PC-XY", at=start)
    codes = []
    for street, communities in STREETS.items():
        for community in communities:
            for n in range(1, 7):
                code = f"{community[:2].upper()}-{n:03d}"
                codes.append(code)
                gov.register_compound(
                    code=code, name=f"{community} No. {n}", district="Haidian", street=street,
                    community=community, grids=[f"{code}-G1", f"{code}-G2"],
                    households=rnd.randrange(120, 1200, 10),
                    kind=rnd.choice(["old", "old", "commodity", "resettlement", "three_no"]),
                    management_mode=rnd.choice(["professional", "entrusted", "self_managed"]),
                    at=start)
                if n != 6:  # one compound per community has no property company
                    company = COMPANIES[(len(codes) + n) % len(COMPANIES)][0]
                    gov.contract_property_company(code, company_code=company,
                                                  starts_on=f"{now.year - 2}-01-01",
                                                  ends_on=f"{now.year + rnd.choice([0, 1, 3])}-12-31",
                                                  at=start)
    for i in range(180):
        code = rnd.choice(codes)
        category = rnd.choice(list(CATEGORY_DEPARTMENTS))
        departments = CATEGORY_DEPARTMENTS[category]
        blown = start + timedelta(minutes=rnd.randrange(0, 29 * 24 * 60))
        urgency = "urgent" if category in ("blocked_fire_lane", "elevator_fault") else "normal"
        issue_id = _id("issue", i)
        gov.blow_whistle(code, grid_worker=f"grid-{code}", issue_id=issue_id, category=category,
                         description=f"{category.replace('_', ' ')} reported on patrol",
                         departments=departments, urgency=urgency,
                         source=rnd.choice(["grid_patrol", "hotline_12345", "resident"]),
                         grid=f"{code}-G{rnd.randint(1, 2)}", building=str(rnd.randint(1, 12)),
                         unit=None, at=blown)
        t = blown
        for department in departments:
            if rnd.random() < 0.9:
                t = t + timedelta(minutes=rnd.choice([20, 45, 90, 180, 600, 1500, 3000]))
                if t < now:
                    gov.report_in(code, issue_id, department=department,
                                  officer=f"officer-{department}", at=t)
        t = t + timedelta(hours=rnd.randint(4, 120))
        if t < now and rnd.random() < 0.8:
            gov.resolve(code, issue_id, department=departments[0],
                        how="handled on site with the property company", at=t)
            t = t + timedelta(hours=rnd.randint(2, 48))
            if t < now and rnd.random() < 0.85:
                rating = rnd.choices(["satisfied", "basically_satisfied", "unsatisfied"],
                                     [6, 3, 1])[0]
                gov.rate(code, issue_id, rating=rating, comment=None, rated_by="resident",
                         at=t)
    first = codes[0]
    gov.elect_committee(first, term_start=f"{now.year - 5}-{now.month:02d}-01",
                        term_end=(now + timedelta(days=60)).date().isoformat(),
                        members=[dict(name="Zhang Wei", role="director", party_member=True),
                                 dict(name="Li Na", role="deputy_director", party_member=False),
                                 dict(name="Wang Fang", role="member", party_member=False)],
                        at=start + timedelta(days=2))
    open_ids = [i["issue_id"] for i in gov.compound(first).issues.values()][:2]
    gov.hold_joint_meeting(
        first, meeting_id=_id("meeting", 1),
        held_on=(start + timedelta(days=14)).date().isoformat(),
        attendees=[dict(name="Secretary Zhao", organisation="party_organisation"),
                   dict(name="Director Qian", organisation="residents_committee"),
                   dict(name="Zhang Wei", organisation="owners_committee"),
                   dict(name="Manager Sun", organisation="property_company")],
        issues_discussed=open_ids,
        decisions=[dict(text="Install bollards at the fire lane entrance", owner="Manager Sun",
                        due_on=(now + timedelta(days=5)).date().isoformat(),
                        issue_id=open_ids[0] if open_ids else None,
                        departments=["urban_management"])],
        at=start + timedelta(days=14))
    for n, code in enumerate(codes):
        gov.survey_satisfaction(code, survey_id=_id("survey", code), year=now.year,
                                surveyed_on=(start + timedelta(days=20)).date().isoformat(),
                                respondents=rnd.randint(40, 200),
                                score=round(rnd.uniform(72, 97), 1), at=start + timedelta(days=20))
    for code, _ in COMPANIES:
        for level in ("street", "district"):
            gov.evaluate_company(code, year=now.year, level=level, evaluator=f"{level} office",
                                 scores={d: rnd.randint(13, 20) for d in (
                                     "organisation", "team", "daily_management",
                                     "service_quality", "public_image")},
                                 at=start + timedelta(days=25))
    gov.record_incident(codes[7], incident_id=_id("incident", 1), kind="safety_accident",
                        occurred_on=(start + timedelta(days=9)).date().isoformat(),
                        description="a resident fell on an unlit stairway", company_code=None,
                        at=start + timedelta(days=9))
    return len(codes)
