"""Long commands show how far they are: a bar on a terminal, a line now and
then (and one at the end) in a log; the service layer only calls back."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from cli.progress import Progress
from projections.feed import rebuild
from projections.registry import all_views
from service_layer.demo import load_demo

REPO = Path(__file__).resolve().parent.parent


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_in_a_log_and_a_bar_on_a_terminal():
    log = io.StringIO()
    with Progress(total=200, every=0.0, stream=log) as bar:
        for done in (50, 100, 200):
            bar("replay agenda", done)
        bar("replay dashboard", 200)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("replay agenda: 50 of 200 (25%) events in ")
    assert "replay agenda: done, 200 of 200 (100%) events" in lines[3]
    assert lines[-1].startswith("replay dashboard: done, 200 of 200 (100%)")
    quiet = io.StringIO()
    with Progress(total=200, stream=quiet) as bar:  # a line each 10 s: only the last
        bar("verify", 100), bar("verify", 200)
    [line] = quiet.getvalue().splitlines()
    assert line.startswith("verify: done, 200 of 200 (100%) events")
    screen = Terminal()
    with Progress(total=200, stream=screen) as bar:
        bar("rebuild", 100), bar("rebuild", 200)
    assert "rebuild: 100%" in screen.getvalue() and "200/200" in screen.getvalue()


def _demo(services, clock) -> int:
    load_demo(services, clock())
    return services.app.recorder.max_notification_id()


def test_rebuild_calls_back_with_the_positions_reached(services, clock):
    head = _demo(services, clock)
    seen: list[int] = []
    assert rebuild(services.log, all_views(), "progress_", progress=seen.append) == head
    assert seen and seen == sorted(seen) and seen[-1] == head


def test_long_commands_report_progress_on_stderr(services, clock, database_url, tmp_path):
    head = _demo(services, clock)
    env = dict(os.environ, DATABASE_URL=database_url)

    def run(*args: str) -> list[str]:
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return [line for line in done.stderr.splitlines() if not line.startswith("store: ")]

    total = f"{head:,} of {head:,} (100%) positions"
    assert run("project", "--rebuild", "all")[-1].startswith(f"rebuild: done, {total}")
    assert run("audit", "verify")[-1].startswith(f"verify: done, {total}")
    assert run("audit", "export", "--out", str(tmp_path / "log.jsonl"))[-1].startswith(
        f"export: done, {total}")
    replayed = run("audit", "replay", "--view", "agenda,dashboard")
    assert [line.split(":")[0] for line in replayed] == ["replay agenda", "replay dashboard"]
    assert all(f"done, {total}" in line for line in replayed)
