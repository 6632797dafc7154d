from __future__ import annotations

from datetime import datetime, timezone

import pytest

from domain.company import PropertyCompany
from domain.exceptions import ConflictingRepeat, RuleBroken

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
SCORES = dict(organisation=18, team=17, daily_management=16, service_quality=19, public_image=15)


def test_evaluations_score_five_dimensions_from_zero_to_twenty_per_level():
    p = PropertyCompany.register(code="PC-01", name="Jinhui", party_organisation=False, at=T0)
    p.evaluate(year=2026, level="street", scores=SCORES, evaluator="Xinjiekou", at=T0)
    assert p.evaluations["2026 street"]["total"] == 85
    p.evaluate(year=2026, level="street", scores=SCORES, evaluator="Xinjiekou", at=T0)  # retry
    with pytest.raises(ConflictingRepeat):
        p.evaluate(year=2026, level="street", scores=dict(SCORES, team=3), evaluator="X", at=T0)
    with pytest.raises(RuleBroken, match="between 0 and 20"):
        p.evaluate(year=2026, level="district", scores=dict(SCORES, team=21), evaluator="X", at=T0)
    with pytest.raises(RuleBroken, match="exactly"):
        p.evaluate(year=2026, level="district", scores={"team": 3}, evaluator="X", at=T0)
    with pytest.raises(RuleBroken, match="level"):
        p.evaluate(year=2026, level="city", scores=SCORES, evaluator="X", at=T0)
    assert len(p.pending_events) == 2


def test_party_organisation_is_established_once():
    p = PropertyCompany.register(code="PC-01", name="Jinhui", party_organisation=False, at=T0)
    p.establish_party_organisation(established_on="2026-03-01", at=T0)
    p.establish_party_organisation(established_on="2026-03-01", at=T0)
    assert p.party_organisation and len(p.pending_events) == 2
