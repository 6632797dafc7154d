"""A compound's location: at registration, set or corrected later, and old
stored events (without it) still loading; the routing table's setting."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from domain.compound import Compound
from domain.exceptions import RuleBroken
from adapters.settings import ConfigError, Settings
from tests import story

AT = datetime(2026, 5, 1, 9, tzinfo=timezone.utc)
FIELDS = dict(code="HU-1", name="华园小区", district="Dongcheng", street="Donghuamen",
              community="C", grids=["G1"], households=100, kind="old",
              management_mode="professional")


def test_location_at_registration_and_later():
    plain = Compound.register(**FIELDS, at=AT)
    assert plain.location is None
    located = Compound.register(**FIELDS, at=AT, latitude=39.9, longitude=116.4)
    assert located.location == dict(latitude=39.9, longitude=116.4, address=None, zipcode=None)
    # Without a location the fingerprint is the old one; with one it differs.
    assert located.registered_fingerprint != plain.registered_fingerprint
    assert plain.is_same_registration(**FIELDS)
    assert not plain.is_same_registration(**FIELDS, latitude=39.9, longitude=116.4)

    plain.collect_events()
    plain.locate(latitude=39.91, longitude=116.41, address="东华门 1 号", zipcode="100006",
                 at=AT)
    plain.locate(latitude=39.91, longitude=116.41, address="东华门 1 号", zipcode="100006",
                 at=AT)  # a retry records nothing
    [located_event] = plain.collect_events()
    assert type(located_event) is Compound.Located
    assert plain.location["address"] == "东华门 1 号"
    with pytest.raises(RuleBroken):
        plain.locate(latitude=91.0, longitude=0.0, address=None, zipcode=None, at=AT)
    with pytest.raises(RuleBroken):
        plain.locate(latitude=39.9, longitude=None, address=None, zipcode=None, at=AT)


def test_events_stored_before_locations_still_load(services):
    """A Registered and a WhistleBlown as stored before location and media_url
    existed: their stored state lacks the keys, and the compound loads."""
    g = services.governance
    g.register_compound(**FIELDS)
    g.blow_whistle("HU-1", grid_worker="w", issue_id="i-1", category="noise",
                   description="d", departments=["police"], urgency="normal",
                   source="resident", grid=None, building=None, unit=None)
    app = services.app
    for n in app.recorder.select_notifications(start=1, limit=10):
        event = app.mapper.to_domain_event(n)
        state = dict(event.__dict__)
        state.pop("location", None)
        state.pop("media_url", None)
        old = object.__new__(type(event))
        object.__setattr__(old, "__dict__", state)
        compound = old.mutate(None if type(event) is Compound.Registered else compound)
    assert compound.location is None and compound.issues["i-1"]["media_url"] is None
    assert g.compound("HU-1").version == 2


def test_routes_setting(monkeypatch):
    monkeypatch.setenv("ROUTES", "leak=housing+water;noise=police")
    settings = Settings.from_env()
    assert settings.route("leak") == ["housing", "water"]
    assert settings.route("cooking_fume") == ["street_office"]  # no route: the fallback
    monkeypatch.setenv("ROUTES", "leak=plumbers")
    with pytest.raises(ConfigError):
        Settings.from_env()


def test_location_through_the_api(client, auth):
    r = client.post("/v1/compounds", json=story.compound(latitude=100, longitude=116.4),
                    headers=auth["official"])
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["latitude"]
    r = client.post("/v1/compounds", json=story.compound(address="学院路 5 号"),
                    headers=auth["official"])
    assert r.status_code == 201 and r.json()["location"]["address"] == "学院路 5 号"
    where = dict(latitude=39.99, longitude=116.35, zipcode="100083")
    first = client.post("/v1/compounds/HD-001/location", json=where, headers=auth["official"])
    again = client.post("/v1/compounds/HD-001/location", json=where, headers=auth["official"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["location"] == dict(where, address=None)
    r = client.post("/v1/compounds/HD-001/location", json=where, headers=auth["grid_worker"])
    assert r.status_code == 403
