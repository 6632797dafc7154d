"""Tokens: listed without secrets, revoked within a second in every process,
expiring, refused without the scope their role needs; unknown tokens cost a
bounded number of lookups. On SQLite and PostgreSQL."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from service_layer.bootstrap import bootstrap
from adapters.settings import Settings
from service_layer.tokens import Tokens
from tests.test_cli import redwhistle

PROBE = "/v1/compounds/NOPE"  # 404 for a known token, 401 for any other


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_list_shows_each_token_without_its_secret(database_url):
    made = redwhistle("token", "create", "--role", "grid_worker", "--name", "patrol 7",
                      "--street", "Xinjiekou", "--expires-in", "30d", database_url=database_url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    listed = redwhistle("token", "list", database_url=database_url)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if "patrol 7" in line)
    assert "grid_worker" in line and "street=Xinjiekou" in line and "active" in line
    services = bootstrap(Settings(database_url=database_url))
    try:
        (row,) = [t for t in services.tokens.list() if t.name == "patrol 7"]
        (digest,), = services.db.fetchall(f"SELECT digest FROM {services.db.table('rw_tokens')}")
    finally:
        services.close()
    assert line.startswith(row.id) and len(row.id) == 12
    assert token not in listed.stdout and token[3:20] not in listed.stdout
    assert digest not in listed.stdout  # the id is a short prefix, not the stored hash
    assert abs(row.expires_at - row.created_at - timedelta(days=30)) < timedelta(seconds=5)


def test_a_revoked_token_is_refused_within_a_second_by_every_process(services, database_url):
    token = services.tokens.create(role="official", name="leaving official")
    other = bootstrap(Settings(database_url=database_url))
    try:
        with TestClient(create_app(services)) as one, TestClient(create_app(other)) as two:
            for api in (one, two):  # each process now remembers the token
                assert api.get(PROBE, headers=bearer(token)).status_code == 404
            (row,) = [t for t in services.tokens.list() if t.name == "leaving official"]
            done = redwhistle("token", "revoke", row.id, database_url=database_url)
            assert done.returncode == 0, done.stderr
            assert row.id in done.stdout
            revoked = time.monotonic()
            refused = {}
            while len(refused) < 2 and time.monotonic() - revoked < 1.5:
                for name, api in (("one", one), ("two", two)):
                    answer = api.get(PROBE, headers=bearer(token)).status_code
                    if name not in refused and answer == 401:
                        refused[name] = time.monotonic() - revoked
                time.sleep(0.02)
            assert set(refused) == {"one", "two"}, refused
    finally:
        other.close()
    listed = redwhistle("token", "list", database_url=database_url).stdout
    assert "revoked" in next(line for line in listed.splitlines() if "leaving official" in line)
    again = redwhistle("token", "revoke", row.id, database_url=database_url)
    assert again.returncode == 0  # revoking twice changes nothing
    missing = redwhistle("token", "revoke", "abcdef012345", database_url=database_url)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_a_token_past_its_expiry_is_refused(client, services, clock):
    token = services.tokens.create(role="viewer", name="visitor",
                                   expires_at=clock.now + timedelta(hours=1))
    assert client.get(PROBE, headers=bearer(token)).status_code == 404
    clock.advance(minutes=59)
    assert client.get(PROBE, headers=bearer(token)).status_code == 404
    clock.advance(minutes=2)
    assert client.get(PROBE, headers=bearer(token)).status_code == 401
    with pytest.raises(ValueError):
        services.tokens.create(role="viewer", name="late", expires_at=clock.now)


def test_one_unknown_token_repeated_costs_one_lookup(client, services, monkeypatch):
    tokens = services.tokens
    lookups: list[str] = []
    lookup = tokens._lookup

    def counted(digest: str):
        lookups.append(digest)
        return lookup(digest)

    monkeypatch.setattr(tokens, "_lookup", counted)
    for _ in range(50):
        assert client.get(PROBE, headers=bearer("rw_guessed")).status_code == 401
    assert len(lookups) == 1
    # Many different unknown tokens: each is looked up once, the memory of them is bounded.
    monkeypatch.setattr(tokens, "UNKNOWN_SIZE", 10)
    for n in range(30):
        assert client.get(PROBE, headers=bearer(f"rw_guess_{n}")).status_code == 401
    assert len(lookups) == 31
    assert len(tokens._unknown) <= 10
    # A token refused while unknown works within a second of its creation.
    monkeypatch.setattr("service_layer.tokens.secrets.token_urlsafe", lambda _: "foreseen")
    assert client.get(PROBE, headers=bearer("rw_foreseen")).status_code == 401
    assert tokens.create(role="viewer", name="new") == "rw_foreseen"
    created = time.monotonic()
    while client.get(PROBE, headers=bearer("rw_foreseen")).status_code == 401:
        assert time.monotonic() - created < 1.5
        time.sleep(0.02)


@pytest.mark.parametrize("scope", [dict(), dict(grids=("A", "", "B")),
                                   dict(street="S", grids=("A", " "))])
def test_a_grid_worker_token_needs_a_street_or_grids(services, scope):
    with pytest.raises(ValueError):
        services.tokens.create(role="grid_worker", name="g", **scope)


@pytest.mark.parametrize("args", [
    ("--role", "grid_worker", "--name", "g"),
    ("--role", "grid_worker", "--name", "g", "--grids", "A,,B"),
    ("--role", "grid_worker", "--name", "g", "--grids", "A,B,"),
    ("--role", "viewer", "--name", "v", "--grids", "A"),
    ("--role", "admin", "--name", "a", "--street", "Xinjiekou"),
    ("--role", "official", "--name", "o", "--department", "fire"),
    ("--role", "viewer", "--name", "v", "--expires-in", "30x"),
    ("--role", "viewer", "--name", "v", "--expires", "2001-01-01"),
])
def test_token_create_refuses_a_bad_scope_or_expiry(args, tmp_path):
    done = redwhistle("token", "create", *args, database_url=f"sqlite:///{tmp_path}/x.sqlite")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "rw_" not in done.stdout
