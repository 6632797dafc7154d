"""The `redwhistle` command: tokens, rebuilds and the demo, as a person runs them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service_layer.bootstrap import bootstrap
from adapters.settings import Settings


def redwhistle(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=database_url)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_token_create_prints_a_token_that_authenticates(database_url):
    done = redwhistle("token", "create", "--role", "department", "--name", "fire desk",
                      "--department", "fire", database_url=database_url)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    services = bootstrap(Settings(database_url=database_url))
    try:
        who = services.tokens.principal(token)
        assert (who.role, who.department, who.name) == ("department", "fire", "fire desk")
        stored = services.db.fetchall(f"SELECT digest FROM {services.db.table('rw_tokens')}")
        assert token not in str(stored)  # only the hash is kept
    finally:
        services.close()


@pytest.mark.parametrize("args", [
    ("token", "create", "--role", "mayor", "--name", "x"),
    ("token", "create", "--role", "department", "--name", "x", "--department", "army"),
    ("project", "--rebuild", "no_such_view"),
    ("project", "--rebuild", "all", "--processes", "0"),
    ("project", "--rebuild", "all", "--processes", "two"),
    ("project", "--rebuild", "all", "--processes", "²"),
    ("token", "create", "--role", "grid_worker", "--name", "w", "--grids", "A,,B"),
    ("token", "create", "--role", "official", "--name", "bell\x07", "--street", "S"),
    ("token", "create", "--role", "official", "--name", "o", "--street", "x" * 201),
    ("serve", "--port", "eighty"),
    ("serve", "--workers", "0"),
])
def test_bad_usage_exits_2_with_one_line(args, tmp_path):
    done = redwhistle(*args, database_url=f"sqlite:///{tmp_path}/x.sqlite")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if not line.startswith("store: ")]
    assert len(errors) == 1 and errors[0].startswith("redwhistle:"), done.stderr


def test_demo_district_loads_into_an_empty_store(tmp_path, clock):
    from cli.serve import demo
    services = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/demo.sqlite"), clock=clock)
    try:
        demo(services)
        compound = services.governance.compound("HU-001")
        assert compound.committee and compound.property_contract
        positions = services.app.recorder.max_notification_id()
        assert positions > 500
        demo(services)  # a second --demo adds tokens, not a second district
        assert services.app.recorder.max_notification_id() == positions
    finally:
        services.close()
