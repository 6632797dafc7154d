"""Open311 GeoReport v2, driven by a real client from PyPI (`georeport`, which
reads services and requests in JSON and XML but cannot POST) and by the
spec's raw form POST through `requests`, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
import xmltodict
from georeport import GeoReport

from api.app import create_app
from cli.main import main as cli
from tests import story
from tests.open311_live import serving

HU1 = dict(latitude=39.9042, longitude=116.4074, address="东城区东华门街道 1 号", zipcode="100006")
HU3_POINT = dict(lat="39.98030", long="116.31020")  # about 35 m from HU-003


@pytest.fixture
def base(services, follower, auth):
    with serving(create_app(services, workers=[follower])) as url:
        post = lambda path, body: requests.post(url + path, json=body,  # noqa: E731
                                                headers=auth["official"])
        assert post("/v1/compounds", story.compound("HU-001", name="华园小区", **HU1)
                    ).status_code == 201
        assert post("/v1/compounds", story.compound("HU-002", name="东方小区")).status_code == 201
        assert post("/v1/compounds", story.compound("HU-003", name="西山小区")).status_code == 201
        r = post("/v1/compounds/HU-003/location", dict(latitude=39.98, longitude=116.31))
        assert r.status_code == 201 and r.json()["location"]["latitude"] == 39.98
        follower.catch_up()
        yield url + "/open311/v2"


def key_of(auth, role: str, **scope) -> str:
    return auth.as_(role, **scope)["Authorization"].removeprefix("Bearer ")


def errors_xml(text: str) -> list[tuple[str, str]]:
    root = ET.fromstring(text)
    assert root.tag == "errors"
    return [(e.findtext("code"), e.findtext("description")) for e in root.findall("error")]


def test_services_and_their_definitions_in_both_formats(base):
    as_json, as_xml = GeoReport(base), GeoReport(base, output_format="xml",
                                                  jurisdiction="haidian")
    services = as_json.get_service_list()
    assert len(services) == 13
    leak = next(s for s in services if s["service_code"] == "leak")
    assert leak == dict(service_code="leak", service_name="房屋渗水",
                        description="Roof or house leak", metadata=True, type="realtime",
                        keywords="渗水,漏水,屋顶", group="房屋设施")
    listed = as_xml.get_service_list()
    assert [s["service_code"] for s in listed] == [s["service_code"] for s in services]
    assert next(s for s in listed if s["service_code"] == "leak") == dict(
        leak, metadata="true")

    definition = as_json.get_service_definition("leak")
    assert definition["service_code"] == "leak"
    codes = [a["code"] for a in definition["attributes"]]
    assert codes == ["building", "unit", "grid", "urgency", "source"]
    urgency = definition["attributes"][3]
    assert urgency["datatype"] == "singlevaluelist" and urgency["required"] is False
    assert [v["key"] for v in urgency["values"]] == ["normal", "urgent"]
    xml_def = as_xml.get_service_definition("leak")
    assert xml_def["service_code"] == "leak"
    xml_urgency = xml_def["attributes"]["attribute"][3]
    assert xml_urgency["code"] == "urgency" and xml_urgency["order"] == "4"
    assert [v["key"] for v in xml_urgency["values"]["value"]] == ["normal", "urgent"]

    with pytest.raises(requests.HTTPError) as failed:
        as_json.get_service_definition("no_such_thing")
    assert failed.value.response.status_code == 404
    assert failed.value.response.json()[0]["code"] == 404
    r = requests.get(f"{base}/services/no_such_thing.xml")
    assert r.status_code == 404 and errors_xml(r.text)[0][0] == "404"


def test_post_read_back_resolve_and_filter(base, auth, services, follower, clock, monkeypatch):
    hotline = key_of(auth, "hotline")
    form = dict(api_key=hotline, service_code="leak", address_id="HU-001",
                description="顶楼渗水 Water comes through the top-floor ceiling",
                media_url="https://img.example.cn/leak.jpg", email="zhang@example.cn",
                phone="13800000000", first_name="San", last_name="Zhang",
                **{"attribute[building]": "3", "attribute[urgency]": "urgent"})
    first = requests.post(f"{base}/requests.json", data=form, headers={"Idempotency-Key": "a1"})
    assert first.status_code == 201, first.text
    [answer] = first.json()
    issue_id = answer["service_request_id"]
    assert "房管" in answer["service_notice"] and answer["account_id"] is None
    version = services.governance.compound("HU-001").version

    # The retry a flaky connection makes: the same issue, no second event.
    again = requests.post(f"{base}/requests.json", data=form, headers={"Idempotency-Key": "a1"})
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == issue_id
    assert services.governance.compound("HU-001").version == version
    changed = requests.post(f"{base}/requests.json", data=dict(form, description="other"),
                            headers={"Idempotency-Key": "a1"})
    assert changed.status_code == 409 and changed.json()[0]["code"] == 409

    issue = services.governance.compound("HU-001").issue(issue_id)
    assert issue["departments"] == ["housing"] and issue["source"] == "hotline_12345"
    assert issue["urgency"] == "urgent" and issue["building"] == "3"
    assert issue["media_url"] == "https://img.example.cn/leak.jpg"

    # By lat/long, in XML, with the client's own UUID as its idempotency key;
    # neighbour_dispute has no route: the street office is summoned.
    own = str(uuid.uuid4())
    clock.advance(days=2)
    r = requests.post(f"{base}/requests.xml", data=dict(
        api_key=key_of(auth, "grid_worker", street="Xinjiekou"), service_code="neighbour_dispute",
        description="两户因噪音争执", service_request_id=own, **HU3_POINT))
    assert r.status_code == 201, r.text
    posted = xmltodict.parse(r.content)["service_requests"]["request"]
    assert posted["service_request_id"] == own and "街道办事处" in posted["service_notice"]
    assert own in services.governance.compound("HU-003").issues
    assert services.governance.compound("HU-003").issue(own)["source"] == "grid_patrol"

    as_json, as_xml = GeoReport(base), GeoReport(base, output_format="xml")
    read = as_json.get_service_request(issue_id)
    assert read["status"] == "open" and read["status_notes"] is None
    assert read["service_code"] == "leak" and read["service_name"] == "房屋渗水"
    assert read["address_id"] == "HU-001" and read["address"] == HU1["address"]
    assert (read["lat"], read["long"], read["zipcode"]) == (39.9042, 116.4074, "100006")
    assert read["agency_responsible"] == "房管"
    assert read["requested_datetime"] == "2026-05-01T17:00:00+08:00"
    assert read["expected_datetime"] == "2026-05-02T17:00:00+08:00"  # urgent: 24 hours
    assert read["media_url"] == "https://img.example.cn/leak.jpg"
    assert "email" not in read and "phone" not in read  # anonymous: no personal data
    xml_read = as_xml.get_service_request(own)
    assert xml_read["status"] == "open" and xml_read["address_id"] == "HU-003"
    assert xml_read["agency_responsible"] == "街道办事处" and xml_read["zipcode"] is None

    # The routed department resolves it through our own API: closed over Open311.
    path = f"/v1/compounds/HU-001/issues/{issue_id}"
    root = base.removesuffix("/open311/v2")
    r = requests.post(root + path + "/progress", json=dict(department="housing",
                                                          note="屋面已勘察"),
                      headers=auth["housing"])
    assert r.status_code == 201
    follower.catch_up()
    assert as_json.get_service_request(issue_id)["status_notes"] == "屋面已勘察"
    clock.advance(hours=1)
    r = requests.post(root + path + "/resolution", json=dict(department="housing",
                                                            how="防水层已修复"),
                      headers=auth["housing"])
    assert r.status_code == 201
    follower.catch_up()
    closed = as_xml.get_service_request(issue_id)
    assert closed["status"] == "closed" and closed["status_notes"] == "防水层已修复"
    assert closed["updated_datetime"] == "2026-05-03T18:00:00+08:00"

    # Filters: status, service_code, dates (the default window is the last 90 days).
    ids = lambda found: sorted(r["service_request_id"] for r in found)  # noqa: E731
    assert ids(as_json.get_service_requests()) == sorted([issue_id, own])
    assert ids(as_json.get_service_requests(status="closed")) == [issue_id]
    assert ids(as_json.get_service_requests(status="open,closed")) == sorted([issue_id, own])
    assert as_xml.get_service_requests(status="open")["service_request_id"] == own
    assert ids(as_json.get_service_requests(service_code="neighbour_dispute")) == [own]
    first_day = dict(start_date="2026-05-01T00:00:00+08:00", end_date="2026-05-02T00:00:00Z")
    assert ids(as_json.get_service_requests(**first_day)) == [issue_id]
    assert ids(as_json.get_service_requests(start_date="2026-05-02T00:00:00Z")) == [own]
    assert ids(as_json.get_service_requests(service_request_id=f"{own},{issue_id}",
                                            status="open")) == sorted([issue_id, own])
    paged = requests.get(f"{base}/requests.json", params=dict(page_size=1, page=2)).json()
    assert ids(paged) == [issue_id]  # newest first
    with pytest.raises(requests.HTTPError) as failed:
        as_json.get_service_requests(start_date="2026-01-01T00:00:00Z",
                                     end_date="2026-05-01T00:00:00Z")
    assert failed.value.response.status_code == 400

    # Personal data: only admin and official see it, and it never enters the log.
    one = f"{base}/requests/{issue_id}.json"
    official = requests.get(one, params=dict(api_key=key_of(auth, "official"))).json()[0]
    assert (official["email"], official["phone"]) == ("zhang@example.cn", "13800000000")
    assert "email" not in requests.get(one, params=dict(api_key=hotline)).json()[0]
    log = services.app.recorder.select_notifications(start=1, limit=10_000)
    assert log and not any(b"zhang@example" in n.state or b"13800000000" in n.state
                           for n in log)
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    assert cli(["contacts", "erase", "--issue", issue_id]) == 0
    official = requests.get(one, params=dict(api_key=key_of(auth, "official"))).json()[0]
    assert official["email"] is None and official["phone"] is None
    assert official["description"] == form["description"]  # the issue's facts stay


def test_a_person_is_erased_from_every_issue_and_control_characters_are_refused(
        base, auth, services, monkeypatch):
    hotline, official = key_of(auth, "hotline"), key_of(auth, "official")
    # A control character could not travel in XML nor sit in every store: refused at the edge.
    refused = requests.post(f"{base}/requests.json", data=dict(
        api_key=hotline, service_code="noise", address_id="HU-001", description="夜间施工\x01噪音"))
    assert refused.status_code == 400
    (error,) = refused.json()
    assert error["code"] == 400 and error["description"].startswith("description ")
    filed = [requests.post(f"{base}/requests.json", data=dict(
        api_key=hotline, service_code="noise", address_id=code, phone=phone,
        description="夜间施工噪音")).json()[0]["service_request_id"]
        for code, phone in (("HU-001", "139"), ("HU-002", "139"), ("HU-003", "137"))]
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    assert cli(["contacts", "erase", "--phone", "139"]) == 0
    seen = requests.get(f"{base}/requests.xml", params=dict(api_key=official))
    assert seen.status_code == 200
    phones = {r["service_request_id"]: r["phone"]
              for r in xmltodict.parse(seen.content)["service_requests"]["request"]}
    assert phones == {filed[0]: None, filed[1]: None, filed[2]: "137"}
    assert "夜间施工噪音" in seen.text


def test_address_string_and_scopes(base, auth, services):
    r = requests.post(f"{base}/requests.json", data=dict(
        api_key=key_of(auth, "official"), service_code="noise", address_string="东方小区"))
    assert r.status_code == 201, r.text
    issue_id = r.json()[0]["service_request_id"]
    issue = services.governance.compound("HU-002").issue(issue_id)
    assert issue["departments"] == ["police"] and issue["source"] == "open311"
    assert issue["description"] == "噪声扰民"  # the spec makes description optional
    hotline = key_of(auth, "hotline")
    r = requests.post(f"{base}/requests.json", data=dict(
        api_key=hotline, service_code="noise", address_string="北京市西山小区3号楼",
        **{"attribute[source]": "resident"}))
    assert r.status_code == 201, r.text
    issue = services.governance.compound("HU-003").issue(r.json()[0]["service_request_id"])
    assert issue["source"] == "resident"
    r = requests.post(f"{base}/requests.json", data=dict(
        api_key=hotline, service_code="noise", address_string="小区"))
    assert r.status_code == 400 and "HU-001, HU-002, HU-003" in r.json()[0]["description"]
    # A grid worker scoped to other grids, an official of another street: refused.
    r = requests.post(f"{base}/requests.json", data=dict(
        api_key=key_of(auth, "grid_worker", grids=("G9",)), service_code="noise",
        address_id="HU-002", **{"attribute[grid]": "G1"}))
    assert r.status_code == 403 and r.json()[0]["code"] == 403
    r = requests.post(f"{base}/requests.json", data=dict(
        api_key=key_of(auth, "official", street="Elsewhere"), service_code="noise",
        address_id="HU-002"))
    assert r.status_code == 403


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_in_the_spec_shape(base, auth, fmt):
    def errors(r: requests.Response) -> list[tuple[int, str]]:
        if fmt == "json":
            assert r.headers["content-type"].startswith("application/json")
            return [(e["code"], e["description"]) for e in r.json()]
        assert r.headers["content-type"].startswith("text/xml")
        return [(int(c), d) for c, d in errors_xml(r.text)]

    url = f"{base}/requests.{fmt}"
    cases = [
        (requests.post(url, data=dict(service_code="leak", address_id="HU-001")), 403),
        (requests.post(url, data=dict(api_key="rw_nonsense", service_code="leak",
                                      address_id="HU-001")), 403),
        (requests.post(url, data=dict(api_key=key_of(auth, "viewer"), service_code="leak",
                                      address_id="HU-001")), 403),
        (requests.post(url, data=dict(api_key=key_of(auth, "hotline"), service_code="nope",
                                      address_id="HU-001")), 400),
        (requests.post(url, data=dict(api_key=key_of(auth, "hotline"),
                                      service_code="leak")), 400),
        (requests.post(url, data=dict(api_key=key_of(auth, "hotline"), service_code="leak",
                                      lat="10.0", long="10.0")), 400),
        (requests.post(url, data=dict(api_key=key_of(auth, "hotline"), service_code="leak",
                                      address_id="HU-404")), 400),
        (requests.post(url, data=dict(api_key=key_of(auth, "hotline"), service_code="leak",
                                      address_id="HU-001", **{"attribute[colour]": "red"})),
         400),
        (requests.post(url, json=dict(api_key=key_of(auth, "hotline"))), 400),
        (requests.get(url, params=dict(status="pending")), 400),
        (requests.get(url, params=dict(start_date="yesterday")), 400),
        (requests.get(url, params=dict(api_key="rw_nonsense")), 403),
        (requests.get(f"{base}/requests/{uuid.uuid4()}.{fmt}"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.request.url, response.text)
        [(code, description)] = errors(response)
        assert code == status and description
    r = requests.get(f"{base}/services.yaml")
    assert r.status_code == 404 and json.loads(r.text)[0]["code"] == 404


def test_push_back_shows_who_acts_now_and_a_duplicate_is_closed(base, auth, services,
                                                                 follower, clock):
    """docs/open311.md: `agency_responsible` names the departments summoned
    now; a duplicate is closed, its note naming the issue it repeats."""
    g, hotline = services.governance, key_of(auth, "hotline")
    filed = [requests.post(f"{base}/requests.json", data=dict(
        api_key=hotline, service_code="parking_disorder", address_id="HU-002",
        description=f"{n} 号楼门口乱停车")).json()[0]["service_request_id"] for n in (1, 2)]
    clock.advance(hours=2)
    g.summon_department("HU-002", filed[0], department="fire", replaces="police",
                        official="Z", reason="车辆堵住消防通道")
    g.close_as_duplicate("HU-002", filed[1], duplicate_of=filed[0], official="Z",
                         reason="同一处")
    follower.catch_up()
    as_json = GeoReport(base)
    moved = as_json.get_service_request(filed[0])
    assert moved["agency_responsible"] == "城管执法、消防救援"
    assert "召集城管执法、消防救援" in moved["service_notice"]
    assert moved["updated_datetime"] == "2026-05-01T19:00:00+08:00"  # the summons
    assert moved["status"] == "open"
    duplicate = as_json.get_service_request(filed[1])
    assert duplicate["status"] == "closed"
    assert duplicate["status_notes"] == f"duplicate of {filed[0]}: 同一处"
    assert duplicate["agency_responsible"] == "城管执法、公安派出所"  # as the whistle's
    ids = lambda found: [r["service_request_id"] for r in found]  # noqa: E731
    assert ids(as_json.get_service_requests(status="closed")) == [filed[1]]
    assert ids(as_json.get_service_requests(status="open")) == [filed[0]]
