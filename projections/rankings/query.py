"""Reading and scoring the annual rankings: `rankings(log, prefix, year)`
computes the year's table, gold list, black list and revoked titles from the
tables of projections/rankings/view.py alone, by the rules of
docs/rankings.md."""
from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from math import fsum
from typing import Any

from domain.company import DIMENSIONS
from projections.rankings.view import RankingsView
from adapters.eventstore import Log
from adapters.db import Cursor

PASS_MARK = 80.0  # survey average and street evaluation must reach it
BLACK_MARK = 60.0  # a composite score below it puts a company on the black list
GOLD_SIZE = 10
DISQUALIFYING = ("safety_accident", "mass_incident", "violation")

CSV_COLUMNS = (["rank", "code", "name", "eligible", "reasons", "gold", "black", "revoked"]
               + [f"street_{d}" for d in DIMENSIONS] + ["street_total"]
               + [f"district_{d}" for d in DIMENSIONS] + ["district_total"]
               + ["composite", "survey_average", "surveys", "respondents", "summonses",
                  "reported_in_time", "response_rate", "party_organisation", "incidents"])


def half_up(value: float, places: int) -> float:
    """Rounds half away from zero on the decimal figure (85.125 -> 85.13),
    after dropping binary floating-point noise beyond nine decimals (so that
    89.97499999999999, which is 89.975, also gives 89.98)."""
    exact = Decimal(repr(value)).quantize(Decimal("1e-9"), ROUND_HALF_UP)
    return float(exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


# -- reading -----------------------------------------------------------------
def _tables(log: Log, prefix: str) -> dict[str, str]:
    view = RankingsView()
    return {b: view.table(log.db, prefix, b) for b in view.tables}


def _level(row: tuple | None) -> dict[str, float] | None:
    if row is None:
        return None
    scores = {d: float(v) for d, v in zip(DIMENSIONS, row)}
    return dict(scores, total=half_up(fsum(scores.values()), 2))


def _sort_key(c: dict[str, Any]) -> tuple:
    """Composite, then survey average, then response rate (each higher
    first, a missing figure last), then name, then code."""
    def desc(v: float | None) -> tuple:
        return (v is None, -(v or 0.0))
    return (*desc(c["composite"]), *desc(c["survey_average"]), *desc(c["response_rate"]),
            c["name"], c["code"])


def _year(cur: Cursor, t: dict[str, str], year: int) -> list[dict[str, Any]]:
    """Every company's figures and eligibility for `year`, ranked."""
    cur.execute(f"SELECT code, name, party_registered, party_established_on "
                f"FROM {t['companies']} ORDER BY code")
    companies = cur.fetchall()
    cur.execute(f"SELECT company, level, {', '.join(DIMENSIONS)} FROM {t['evaluations']} "
                "WHERE year = ?", (year,))
    evaluations = {(r[0], r[1]): r[2:] for r in cur.fetchall()}
    cur.execute(f"SELECT company_code, respondents, score FROM {t['surveys']} "
                "WHERE year = ? AND company_code IS NOT NULL ORDER BY compound, survey_id",
                (year,))
    surveys: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for company, respondents, score in cur.fetchall():
        surveys[company].append((int(respondents), float(score)))
    cur.execute(f"SELECT company_code, kind, occurred_on, compound, incident_id "
                f"FROM {t['incidents']} WHERE year = ? AND company_code IS NOT NULL "
                "ORDER BY occurred_on, compound, incident_id", (year,))
    incidents: dict[str, list[dict[str, str]]] = defaultdict(list)
    for company, kind, occurred_on, compound, incident_id in cur.fetchall():
        if kind in DISQUALIFYING:
            incidents[company].append(dict(kind=kind, occurred_on=occurred_on,
                                           compound_code=compound, incident_id=incident_id))
    # Kept per summons as the dashboard counts them (projections/rankings/view.py).
    cur.execute(f"SELECT company_code, summoned, in_time FROM {t['responses']} "
                "WHERE year = ?", (year,))
    summonses = {company: (int(n), int(in_time)) for company, n, in_time in cur.fetchall()}

    end_of_year = f"{year:04d}-12-31"
    out = []
    for code, name, party_registered, party_established_on in companies:
        street = _level(evaluations.get((code, "street")))
        district = _level(evaluations.get((code, "district")))
        composite = (half_up((street["total"] + district["total"]) / 2, 2)
                     if street and district else None)
        answers = surveys.get(code, [])
        respondents = sum(n for n, _ in answers)
        survey_average = (half_up(fsum(n * s for n, s in answers) / respondents, 2)
                          if respondents else None)
        n, in_time = summonses.get(code, (0, 0))
        response_rate = half_up(in_time / n, 4) if n else None
        party = bool(party_registered) or bool(party_established_on
                                               and party_established_on <= end_of_year)
        reasons = []
        if street is None:
            reasons.append("not evaluated by street")
        elif street["total"] < PASS_MARK:
            reasons.append(f"street evaluation {street['total']:.2f} below {PASS_MARK:.0f}")
        if district is None:
            reasons.append("not evaluated by district")
        if survey_average is None:
            reasons.append("no satisfaction survey")
        elif survey_average < PASS_MARK:
            reasons.append(f"survey average {survey_average:.2f} below {PASS_MARK:.0f}")
        for i in incidents.get(code, []):
            reasons.append(_incident_reason(i))
        if not party:
            reasons.append("no party organisation")
        out.append(dict(
            rank=None, code=code, name=name, eligible=not reasons, reasons=reasons,
            gold=False, black=False, revoked=False, street=street, district=district,
            street_total=street["total"] if street else None,
            district_total=district["total"] if district else None, composite=composite,
            survey_average=survey_average, surveys=len(answers), respondents=respondents,
            summonses=n, reported_in_time=in_time, response_rate=response_rate,
            party_organisation=party, incidents=incidents.get(code, [])))
    out.sort(key=lambda c: (not c["eligible"], _sort_key(c)))
    for rank, c in enumerate((c for c in out if c["eligible"]), start=1):
        c["rank"] = rank
        c["gold"] = rank <= GOLD_SIZE
    for c in out:
        c["black"] = bool(c["incidents"]) or (c["composite"] is not None
                                              and c["composite"] < BLACK_MARK)
    return out


def _incident_reason(incident: dict[str, str]) -> str:
    return (f"disqualifying incident: {incident['kind'].replace('_', ' ')} on "
            f"{incident['occurred_on']} in compound {incident['compound_code']}")


def rankings(log: Log, prefix: str, year: int) -> dict[str, Any]:
    """The year's rankings from the rankings tables under `prefix` ("" for
    the live view): every company, the gold list, the black list and the
    titles revoked this year."""
    view = _tables(log, prefix)
    with log.db.transaction(commit=False) as cur:
        if log.db.is_postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        companies = _year(cur, view, year)
        previous = _year(cur, view, year - 1)
    gold_before = {c["code"]: c["rank"] for c in previous if c["gold"]}
    revoked = []
    for c in companies:
        if c["code"] in gold_before and c["incidents"]:
            c["revoked"] = True
            revoked.append(dict(code=c["code"], name=c["name"],
                                gold_rank_last_year=gold_before[c["code"]],
                                reasons=[_incident_reason(i) for i in c["incidents"]]))
    black = []
    for c in sorted((c for c in companies if c["black"]), key=lambda c: (c["name"], c["code"])):
        reasons = [_incident_reason(i) for i in c["incidents"]]
        if c["composite"] is not None and c["composite"] < BLACK_MARK:
            reasons.append(f"composite score {c['composite']:.2f} below {BLACK_MARK:.0f}")
        black.append(dict(code=c["code"], name=c["name"], composite=c["composite"],
                          reasons=reasons))
    gold = [dict(rank=c["rank"], code=c["code"], name=c["name"], composite=c["composite"],
                 survey_average=c["survey_average"], response_rate=c["response_rate"])
            for c in companies if c["gold"]]
    return dict(year=year, companies=companies, gold=gold, black=black, revoked=revoked)


def ranking_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per company for CSV."""
    rows = []
    for c in result["companies"]:
        row = {k: c[k] for k in ("rank", "code", "name", "street_total", "district_total",
                                 "composite", "survey_average", "surveys", "respondents",
                                 "summonses", "reported_in_time", "response_rate")}
        for flag in ("eligible", "gold", "black", "revoked", "party_organisation"):
            row[flag] = "true" if c[flag] else "false"
        row["reasons"] = "; ".join(c["reasons"])
        row["incidents"] = len(c["incidents"])
        for level in ("street", "district"):
            for d in DIMENSIONS:
                row[f"{level}_{d}"] = c[level][d] if c[level] else None
        rows.append(row)
    return rows
