"""`redwhistle audit` as an auditor runs it, on SQLite and PostgreSQL, and the
stand-alone tools/verify_export.py agreeing with `audit verify`."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from audit.chain import events_table, position_column
from audit.sealer import Sealer
from tests import story
from tests.test_audit_api import District, settle

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "verify_export.py"


def redwhistle(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ, DATABASE_URL=database_url, **env)
    return subprocess.run([sys.executable, "-m", "cli.main", "audit", *args], cwd=ROOT,
                          capture_output=True, text=True, env=full, timeout=300)


def verify_export(*args: str) -> subprocess.CompletedProcess:
    # Run from an empty directory with isolated mode: no project module is reachable.
    return subprocess.run([sys.executable, "-I", str(TOOL), *args], cwd="/",
                          capture_output=True, text=True, timeout=300)


def broken_at(output: str) -> int | None:
    found = re.search(r"BROKEN at position (\d+)", output)
    return int(found.group(1)) if found else None


def _log(services, compounds: int = 3) -> None:
    gov = services.governance
    for i in range(compounds):
        code = f"HD-{i:03d}"
        gov.register_compound(**story.compound(code))
        for _ in range(3):
            gov.blow_whistle(code, grid_worker="gw", **{**story.whistle(["fire"]), "unit": None})


def _edit(services, position: int, description: str) -> None:
    t, p = events_table(services.log), position_column(services.log)
    state = json.loads(bytes(services.db.fetchall(f"SELECT state FROM {t} WHERE {p} = ?",
                                                  (position,))[0][0]))
    state["description"] = description
    services.db.execute(f"UPDATE {t} SET state = ? WHERE {p} = ?",
                        (json.dumps(state).encode(), position))


def test_verify_export_agrees_with_audit_verify(services, database_url, tmp_path):
    _log(services)
    Sealer(services.chain, services.settings, services.governance.clock, every_events=5).tick()
    before = tmp_path / "before.jsonl"

    # Intact: everyone agrees it is intact.
    done = redwhistle("export", "--out", str(before), database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert "exported 12 events" in done.stdout
    done = redwhistle("verify", database_url=database_url)
    assert done.returncode == 0 and done.stdout.startswith("ok: 12 events"), done.stdout
    tool = verify_export(str(before))
    assert tool.returncode == 0 and tool.stdout.startswith("ok: 12 events"), tool.stdout
    assert verify_export(str(before), "--seals", str(before)).returncode == 0
    seals = tmp_path / "seals.jsonl"
    assert redwhistle("seals", "--out", str(seals), database_url=database_url).returncode == 0
    assert verify_export(str(before), "--seals", str(seals)).returncode == 0
    done = redwhistle("verify", "--against-seals", str(before), database_url=database_url)
    assert done.returncode == 0, done.stdout

    # The log is edited in the database at position 7.
    _edit(services, 7, "rewritten")
    done = redwhistle("verify", database_url=database_url)
    assert done.returncode == 1 and broken_at(done.stdout) == 7, done.stdout
    after = tmp_path / "after.jsonl"
    done = redwhistle("export", "--out", str(after), database_url=database_url)
    assert done.returncode == 1 and "audit verify" in done.stderr  # it warns, and still writes
    tool = verify_export(str(after), "--seals", str(before))
    assert tool.returncode == 1 and broken_at(tool.stdout) == 7, tool.stdout
    tool = verify_export(str(after), "--seals", str(seals))  # the seals alone: 10 covers 7
    assert tool.returncode == 1 and broken_at(tool.stdout) == 10, tool.stdout
    done = redwhistle("verify", "--against-seals", str(before), database_url=database_url)
    assert done.returncode == 1 and broken_at(done.stdout) == 7

    # The export file is edited at position 4 (the database is not).
    lines = before.read_text(encoding="utf-8").splitlines()
    body = json.loads(lines[3])
    body["state"]["description"] = "edited in transit"
    lines[3] = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tool = verify_export(str(forged))
    assert tool.returncode == 1 and broken_at(tool.stdout) == 4, tool.stdout
    done = redwhistle("verify", "--against-seals", str(forged), database_url=database_url)
    assert done.returncode == 1 and broken_at(done.stdout) == 4, done.stdout

    # A line removed from the export.
    del lines[5]
    lines[3] = before.read_text(encoding="utf-8").splitlines()[3]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tool = verify_export(str(cut))
    assert tool.returncode == 1 and broken_at(tool.stdout) == 7, tool.stdout
    tool = verify_export(str(cut), "--seals", str(before))
    assert tool.returncode == 1 and broken_at(tool.stdout) == 6, tool.stdout


def test_partial_export_verifies_from_its_start(services, database_url, tmp_path):
    _log(services)
    Sealer(services.chain, services.settings, services.governance.clock).seal_now()
    out = tmp_path / "part.jsonl"
    done = redwhistle("export", "--out", str(out), "--after", "5", database_url=database_url)
    assert done.returncode == 0 and "exported 7 events" in done.stdout, done.stdout
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    tool = verify_export(str(out), "--start", first["prev"])
    assert tool.returncode == 0, tool.stdout
    assert verify_export(str(out), "--start", "0" * 64).returncode == 1


def test_replay_matches_the_live_views_and_reports_a_difference(services, follower, client,
                                                                auth, database_url):
    District(client, auth).first_part()
    settle(services, follower)
    done = redwhistle("replay", database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    for view in ("dashboard", "agenda", "rankings"):
        assert f"{view}: replayed to position" in done.stdout
    assert "identical to the live tables" in done.stdout
    position = services.app.recorder.max_notification_id()
    done = redwhistle("replay", "--view", "rankings", "--until", str(position),
                      database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    # Someone edits a published figure's table behind the views' back.
    from projections.registry import view_named
    view = view_named("rankings")
    table = view.table(services.db, "", "surveys")
    columns = [r for r in services.db.fetchall(f"SELECT * FROM {table}")]
    assert columns
    services.db.execute(f"DELETE FROM {table} WHERE survey_id = ?",
                        (_first_survey(services, table),))
    done = redwhistle("replay", "--view", "rankings,agenda", database_url=database_url)
    assert done.returncode == 1
    assert "rankings.surveys: replay only:" in done.stdout
    assert "rankings: replayed to position" in done.stdout and "1 differences" in done.stdout
    assert "agenda: replayed to position" in done.stdout


def _first_survey(services, table: str):
    return services.db.fetchall(f"SELECT survey_id FROM {table} ORDER BY survey_id")[0][0]


def test_replay_against_a_published_csv(services, follower, client, auth, database_url,
                                        tmp_path, clock):
    district = District(client, auth)
    issues = district.first_part()
    settle(services, follower)
    published = client.get("/v1/dashboard/response-rates", headers=auth["viewer"],
                           params={"from": "2026-03-01", "to": "2026-04-01", "format": "csv"})
    assert published.status_code == 200
    now = client.app.state.services.governance.clock()
    moment = clock.advance(seconds=1)  # after the first part was recorded...
    clock.advance(seconds=1)  # ...and before the second
    district.second_part(issues)
    path = tmp_path / "published.csv"
    path.write_text(published.text, encoding="utf-8")
    args = ["replay", "--against-csv", str(path), "--query", "dashboard", "--param",
            "from=2026-03-01", "--param", "to=2026-04-01", "--until", moment.isoformat(),
            "--now", now.isoformat()]
    done = redwhistle(*args, database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identical to" in done.stdout
    # The figure as of now is not the published one.
    done = redwhistle(*args[:-4], "--now", now.isoformat(), database_url=database_url)
    assert done.returncode == 1 and "dashboard.csv: line" in done.stdout
    # A published figure that does not follow from the events.
    lines = published.text.splitlines()
    cells = lines[1].split(",")
    cells[1] = str(int(cells[1]) + 1)  # one more summons than there were
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = redwhistle(*args, database_url=database_url)
    assert done.returncode == 1
    assert re.search(r"line 2: summonses: published '\d+', recomputed '\d+'", done.stdout)


@pytest.mark.parametrize("args", [
    ("verify", "--against-seals", "/no/such/file.jsonl"),
    ("replay", "--until", "last tuesday"),
    ("replay", "--view", "no_such_view"),
    ("replay", "--until", "999999"),
    ("replay", "--against-csv", "/no/such.csv", "--query", "dashboard"),
    ("replay", "--against-csv", "/etc/hostname"),
    ("replay", "--against-csv", "/etc/hostname", "--query", "no_such_query"),
    ("replay", "--against-csv", "/etc/hostname", "--query", "rankings", "--param", "year"),
    ("export", "--out", "/no/such/dir/x.jsonl"),
    ("export", "--out", "x.jsonl", "--after", "-3"),
    ("verify", "--against-seals", "kafka"),
    ("bogus",),
])
def test_bad_input_exits_2_with_one_line(args, tmp_path):
    done = redwhistle(*args, database_url=f"sqlite:///{tmp_path}/x.sqlite")
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("store: ")]
    assert len(errors) == 1 and errors[0].startswith("redwhistle:"), done.stderr


def test_bad_seals_file_exits_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"position": 3}\n', encoding="utf-8")
    done = redwhistle("verify", "--against-seals", str(bad),
                      database_url=f"sqlite:///{tmp_path}/x.sqlite")
    assert done.returncode == 2 and "line 1" in done.stderr
    tool = verify_export(str(bad))
    assert tool.returncode == 2


def test_seal_command(services, database_url):
    _log(services, compounds=1)
    done = redwhistle("seal", database_url=database_url)
    assert done.returncode == 0 and "sealed position 4" in done.stdout, done.stdout
    done = redwhistle("seal", database_url=database_url)
    assert done.returncode == 0 and "nothing new" in done.stdout
