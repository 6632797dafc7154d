"""The tests make the PostgreSQL database they need: on a server without it,
the fixtures create it and the PostgreSQL tests pass."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _exists(name: str) -> bool:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone())


def test_fixtures_create_a_missing_database():
    name = f"rw_fresh_{uuid.uuid4().hex[:8]}"
    assert not _exists(name)
    env = dict(os.environ, TEST_POSTGRES_URL=f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "tests/test_cli.py::test_token_create_prints_a_token_that_authenticates[postgres]"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:]
        assert "1 passed" in done.stdout
        assert _exists(name)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
