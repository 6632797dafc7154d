"""CSV for people, on SQLite and PostgreSQL: a byte-order mark (Excel then
reads UTF-8, so Chinese names survive), the period and `as_of` in the file
name, rates rounded as docs/dashboard.md says; and an auditor's comparison
with such a CSV still finds every difference."""
from __future__ import annotations

import csv
import io

from audit import replay
from tests import story
from tests.test_dashboard import URL, Story, at

STREET, NAME = "新街口街道", "花园小区（北院）"


def _story(client, auth) -> Story:
    s = Story(client, auth)
    s.post("/v1/compounds", story.compound("HD-001", street=STREET, name=NAME))
    issues = [s.whistle("HD-001", ["fire"], at(3, 9 + i)) for i in range(3)]
    s.report("HD-001", issues[0], "fire", at(3, 9, 30))  # 1 of 3 in time: 0.3333…
    return s


def _filename(response) -> str:
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="'), disposition
    return disposition.split('filename="')[1].rstrip('"')


def test_dashboard_csv_opens_in_excel_with_its_period_in_the_name(client, auth):
    s = _story(client, auth)
    params = {"from": "2026-05-01", "to": "2026-06-01", "by": "street", "after": s.position}
    got = client.get(URL, params=dict(params, format="csv"), headers=auth["viewer"])
    assert got.status_code == 200
    assert got.content.startswith(b"\xef\xbb\xbf")  # the BOM, once
    assert not got.content[3:].startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    [row] = [r for r in rows if r["key"] == STREET]  # the Chinese street round-trips
    assert (row["summonses"], row["reported_in_time"], row["response_rate"]) == ("3", "1",
                                                                                "0.3333")
    assert row["three_rates_score"] == ""
    assert _filename(got) == "response-rates_by-street_2026-05-01_2026-05-31.csv"
    as_json = client.get(URL, params=params, headers=auth["viewer"]).json()
    [figure] = [r for r in as_json["rows"] if r["key"] == STREET]
    assert figure["response_rate"] == 1 / 3  # JSON stays exact

    by_the_hour = client.get(URL, headers=auth["viewer"], params=dict(
        params, format="csv", by="compound", to="2026-05-03T12:00:00+08:00",
        as_of="2026-05-04T08:30:00+08:00"))
    assert by_the_hour.status_code == 200
    assert _filename(by_the_hour) == ("response-rates_by-compound_2026-05-01_2026-05-03T120000"
                                      "_as-of-2026-05-04T083000.csv")


def test_agenda_csv_keeps_chinese_names(client, auth):
    s = _story(client, auth)
    got = client.get("/v1/compounds/HD-001/agenda", headers=auth["viewer"],
                     params={"meeting_on": "2026-05-20", "format": "csv", "after": s.position})
    assert got.status_code == 200 and got.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows and {r["compound_name"] for r in rows} == {NAME}
    assert NAME.encode("utf-8") in got.content


def test_an_auditor_compares_at_the_published_decimals(client, auth, services, tmp_path):
    s = _story(client, auth)
    got = client.get(URL, headers=auth["viewer"], params={
        "from": "2026-05-01", "to": "2026-06-01", "by": "street", "format": "csv",
        "after": s.position})
    path = tmp_path / "published.csv"
    path.write_bytes(got.content)
    query = replay.query_named("dashboard")
    figure = replay.view_as_of(services.chain, services.settings, "dashboard", None,
                              {"from": "2026-05-01", "to": "2026-06-01", "by": "street"},
                              now=services.governance.clock().isoformat())
    rows = query.rows(figure["figure"])
    assert replay.compare_csv("dashboard", rows, path, list(query.columns)) == []
    path.write_bytes(got.content.replace(b",0.3333,", b",0.3334,"))
    [difference] = replay.compare_csv("dashboard", rows, path, list(query.columns))
    assert "response_rate: published '0.3334'" in difference.detail
