"""Shared fixtures. Every store-touching test runs twice: on a SQLite file and
on the real PostgreSQL at 127.0.0.1:5432 (or $TEST_POSTGRES_URL), each in a
schema of its own that is dropped afterwards. PostgreSQL not answering is a
failure, never a skip."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from projections.registry import all_views
from projections.feed import ViewsFollower
from service_layer.bootstrap import Services, bootstrap
from adapters.db import scratch_schema
from adapters.settings import Settings

pytest_plugins: list[str] = ["tests.kafka_broker"]

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class FakeClock:
    """The time of record, moved by the test."""

    def __init__(self, start: datetime = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """POSTGRES_URL's database, created if the server does not have it yet
    (a fresh server has only `postgres`)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    base = POSTGRES_URL.split("?")[0]
    name = conninfo_to_dict(base).get("dbname") or "postgres"
    with psycopg.connect(make_conninfo(base, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another test process made it meanwhile
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_database: str) -> Iterator[str]:
    """A fresh PostgreSQL schema; yields a DATABASE_URL that uses it."""
    with scratch_schema(postgres_database, prefix="t") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/redwhistle.sqlite"
    return request.getfixturevalue("postgres_schema")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Iterator[Services]:
    svc = bootstrap(settings, clock=clock)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def follower(services: Services) -> ViewsFollower:
    """The live views, as `serve` runs them; tests may call catch_up() to be
    sure every view has processed the log."""
    follower = ViewsFollower(services.log, all_views())
    services.follower = follower
    return follower


@pytest.fixture
def client(services: Services, follower: ViewsFollower) -> Iterator[TestClient]:
    with TestClient(create_app(services, workers=[follower])) as c:
        yield c


class Tokens(dict):
    """Auth headers by role; `as_(role, **scope)` makes more."""

    def __init__(self, services: Services):
        super().__init__()
        self._services = services
        for role in ("admin", "official", "auditor", "viewer"):
            self[role] = self.as_(role)
        # A grid worker has a scope: the grids of story.compound.
        self["grid_worker"] = self.as_("grid_worker", grids=("G1", "G2"))
        for dept in services.settings.departments:
            self[dept] = self.as_("department", department=dept)

    def as_(self, role: str, **scope) -> dict[str, str]:
        token = self._services.tokens.create(role=role, name=f"{role}-{uuid.uuid4().hex[:6]}",
                                             **scope)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(services: Services) -> Tokens:
    return Tokens(services)
