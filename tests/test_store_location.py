"""Which store a command uses: without DATABASE_URL, one file in the
Red Whistle home whatever the working folder; and each command says which
store it opened, without a password."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service_layer.bootstrap import bootstrap
from adapters.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def redwhistle(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDWHISTLE_HOME", "XDG_DATA_HOME")}
    full.update(env, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120)


def _token_in(store: Path, token: str) -> str:
    services = bootstrap(Settings(database_url=f"sqlite:///{store}"))
    try:
        return services.tokens.principal(token).name
    finally:
        services.close()


def test_default_store_is_the_same_from_any_folder(tmp_path):
    home, here, there = tmp_path / "home", tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    tokens = []
    for cwd, name in ((here, "first"), (there, "second")):
        done = redwhistle("token", "create", "--role", "admin", "--name", name, cwd=cwd,
                          REDWHISTLE_HOME=str(home))
        assert done.returncode == 0, done.stderr
        assert done.stderr.splitlines() == [f"store: sqlite:///{home}/redwhistle.sqlite"]
        tokens.append(done.stdout.strip())
    assert not list(here.iterdir()) and not list(there.iterdir())  # no ./var anywhere
    assert [_token_in(home / "redwhistle.sqlite", t) for t in tokens] == ["first", "second"]


def test_without_a_home_the_store_is_in_the_xdg_data_folder(tmp_path):
    done = redwhistle("token", "create", "--role", "viewer", "--name", "v", cwd=tmp_path,
                      HOME=str(tmp_path / "user"))
    assert done.returncode == 0, done.stderr
    store = tmp_path / "user" / ".local" / "share" / "redwhistle" / "redwhistle.sqlite"
    assert done.stderr.splitlines() == [f"store: sqlite:///{store}"]
    assert _token_in(store, done.stdout.strip()) == "v"
    done = redwhistle("token", "create", "--role", "viewer", "--name", "w", cwd=tmp_path,
                      HOME=str(tmp_path / "user"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    assert done.stderr.splitlines() == [f"store: sqlite:///{tmp_path}/xdg/redwhistle/"
                                        "redwhistle.sqlite"]


def test_a_command_names_its_store_without_the_password(database_url, tmp_path):
    if database_url.startswith("postgresql://"):
        # trust auth takes any password: the one in the URL must not be printed
        database_url = database_url.replace("postgresql://postgres@",
                                            "postgresql://postgres:s3cret@")
        shown = database_url.replace(":s3cret", "")
    else:
        shown = database_url
    done = redwhistle("token", "create", "--role", "auditor", "--name", "a", cwd=tmp_path,
                      DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"store: {shown}"]
    assert "s3cret" not in done.stderr + done.stdout
    services = bootstrap(Settings(database_url=database_url))
    try:
        assert services.tokens.principal(done.stdout.strip()).name == "a"
    finally:
        services.close()


def test_a_department_consumer_remembers_beside_the_store_not_in_the_working_folder(
        tmp_path, monkeypatch):
    from adapters.kafka import KafkaConfig
    from consumers.department import DepartmentConsumer

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("REDWHISTLE_HOME", str(home))
    monkeypatch.chdir(elsewhere)
    consumer = DepartmentConsumer(KafkaConfig("127.0.0.1:1"), "fire", lambda summons: None)
    consumer.seen.add("e-1")
    consumer.seen.close()
    assert (home / "consumer-redwhistle-fire.sqlite").exists()
    assert list(elsewhere.iterdir()) == []
