"""The benchmark harness at its smallest, so it cannot rot: a tiny city,
phases of about a second, on the real PostgreSQL. The full runs (district and
up) stay out of CI; bench/README.md has their numbers."""
from __future__ import annotations

import itertools
import json
import tempfile

from bench import city as city_mod
from bench import run as harness


def test_the_city_is_seeded_and_sized():
    a, b = city_mod.generate("tiny", seed=3), city_mod.generate("tiny", seed=3)
    assert [c.code for c in a.compounds] == [c.code for c in b.compounds] and \
        len(a.compounds) == 12
    first = list(itertools.islice(a.commands(), 400))
    assert first == list(itertools.islice(b.commands(), 400))
    other = list(itertools.islice(city_mod.generate("tiny", seed=4).commands(), 400))
    assert first != other
    counts = city_mod.stats(a)
    # the mix of the papers: whistles, reports in, resolutions, ratings, the rest
    assert counts["report_in"] > counts["blow_whistle"] > counts["rate"] > 0
    assert counts["hold_joint_meeting"] == 4 * 12 and counts["evaluate_company"] > 0
    year = list(a.year_commands())
    assert [c.at for c in year] == sorted(c.at for c in year)
    assert all(city_mod.http(c) is not None for c in year if c.op != "escalate_due")


def test_a_city_goes_through_the_real_use_cases_and_the_bulk_loader_alike(services):
    """The same commands through Governance one by one and through the bulk
    loader give the same aggregates."""
    city = city_mod.generate(3, seed=5)
    commands = list(city.commands())
    for c in commands:
        city_mod.apply(services.governance, c)
    from service_layer.bootstrap import bootstrap
    from adapters.settings import Settings
    with tempfile.TemporaryDirectory() as tmp:
        other = bootstrap(Settings(database_url=f"sqlite:///{tmp}/bulk.sqlite"))
        try:
            result = city_mod.load(other, city)
            assert result["events"] == services.app.recorder.max_notification_id()
            for spec in city.compounds:
                one = services.governance.compound(spec.code)
                bulk = other.governance.compound(spec.code)
                assert one.version == bulk.version and one.issues == bulk.issues
        finally:
            other.close()


def test_the_harness_prints_one_table(capsys, tmp_path):
    out = tmp_path / "rows.json"
    assert harness.main(["--size", "tiny", "--quick", "--seconds", "1",
                         "--only", "ingest,mixed,scale", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| figure | ours | baseline (same run) | ratio | note |" in printed
    assert "machine:" in printed
    rows = json.loads(out.read_text())["rows"]
    figures = {r["figure"] for r in rows}
    assert "1 ingest: HTTP whistles/s, saturated" in figures
    assert "6 memory: serve peak RSS under ingest" in figures
    assert any(f.startswith("2 mixed: POST whistles") for f in figures)
    scale = [r for r in rows if r["figure"].startswith("4 GET dashboard by compound, 2 years")]
    assert scale and scale[0]["value"] > 0
    assert not [r for r in rows if str(r.get("note", "")).startswith("failed")], rows
    ingest = [r for r in rows if r["figure"] == "1 ingest: HTTP whistles/s, saturated"][0]
    assert ingest["value"] > 0 and ingest["baseline"] > 0 and "errors none" in ingest["note"]


def test_a_missing_or_failing_suite_is_a_row_not_a_crash(monkeypatch):
    monkeypatch.setitem(harness.SUITES, "ghost", "bench.no_such_bench")
    rows = harness.run_suites(["ghost"], {"size": "tiny"})
    assert rows[0]["value"] is None and "not present" in rows[0]["note"]
    table = harness.table([harness.finish(dict(figure="x", value=2.0, unit="ms", baseline=4.0,
                                               baseline_label="target",
                                               lower_is_better=True))])
    assert "0.50× ✓" in table
