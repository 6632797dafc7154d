"""Configuration from the environment. With nothing set, Red Whistle runs on a
SQLite file in its home (`default_store`) and no broker, so a newcomer's
first command works, and a later one from another folder finds the same store."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from domain.deadlines import DeadlinePolicy

DEFAULT_DEPARTMENTS = ("urban_management", "fire", "police", "housing", "environment",
                       "market_regulation", "sanitation", "water", "elevator_safety",
                       "street_office")
DEFAULT_CATEGORIES = ("illegal_construction", "blocked_fire_lane", "flying_wire_charging",
                      "cooking_fume", "leak", "elevator_fault", "water_supply", "noise",
                      "parking_disorder", "corridor_clutter", "green_space_misuse",
                      "public_security", "neighbour_dispute")

# Open311 requests name a category, not departments: each category summons
# these (`ROUTES=leak=housing+water;noise=police`); a category without a route
# summons the street office (docs/open311.md). Our choice, not the papers'.
DEFAULT_ROUTES = ("illegal_construction=urban_management;blocked_fire_lane=fire;"
                  "flying_wire_charging=fire;cooking_fume=environment+urban_management;"
                  "leak=housing;elevator_fault=elevator_safety;water_supply=water;"
                  "noise=police;parking_disorder=urban_management+police;"
                  "corridor_clutter=fire;green_space_misuse=urban_management;"
                  "public_security=police")
FALLBACK_DEPARTMENT = "street_office"

# 响应率 : 解决率 : 满意率. The papers give no weights; these follow the
# 30/35/35 split reported for the Jungar Banner 接诉即办 rules (docs/dashboard.md).
DEFAULT_THREE_RATES_WEIGHTS = (30.0, 35.0, 35.0)


class ConfigError(ValueError):
    """A setting is malformed; the message names it."""


def _list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    return tuple(x.strip() for x in raw.split(",") if x.strip()) if raw else default


def env_number(name: str, default: float, cast: type = float, what: str = "a number") -> float:
    """A numeric setting; a malformed one is a ConfigError naming it."""
    raw = os.environ.get(name)
    try:
        return cast(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be {what}, not {raw!r}") from None


def _weights(name: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
    """e.g. THREE_RATES_WEIGHTS="30,35,35": response, resolution, satisfaction."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        parts = tuple(float(x) for x in raw.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 0 or sum(parts) <= 0:
        raise ConfigError(f"{name} must be three non-negative numbers with a positive sum, "
                          f"e.g. 30,35,35; not {raw!r}")
    return parts  # type: ignore[return-value]


def export_for_workers(**overrides: str) -> None:
    """Settings for the processes this one starts (uvicorn's workers build
    their own Settings from the environment); one given explicitly wins."""
    for name, value in overrides.items():
        os.environ.setdefault(name, value)


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")


def _hours(name: str, default: float) -> float:
    return env_number(name, default, float, "a number of hours")


def data_home() -> Path:
    """Where the embedded files live: $REDWHISTLE_HOME if set, else the XDG
    data folder ($XDG_DATA_HOME, by default ~/.local/share/redwhistle/). Not
    relative to the working folder, where a command run from elsewhere would
    make a second, empty file."""
    home = os.environ.get("REDWHISTLE_HOME")
    if not home:
        data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        home = Path(data) / "redwhistle"
    return Path(home).expanduser().absolute()


def default_store() -> Path:
    """The SQLite file used when DATABASE_URL is not set (see data_home)."""
    return data_home() / "redwhistle.sqlite"


def store_url(database_url: str | None) -> str:
    """The store a DATABASE_URL (or its absence) names, fit to print: a SQLite
    file by its absolute path, PostgreSQL without the password."""
    if not database_url:
        return f"sqlite:///{default_store()}"
    url = urlparse(database_url)
    if url.scheme == "sqlite" and database_url.startswith("sqlite:///"):
        path = unquote(database_url[len("sqlite:///"):])
        return database_url if path == ":memory:" else f"sqlite:///{Path(path).absolute()}"
    if url.password is not None:
        host = url.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = (f"{url.username}@" if url.username else "") + host \
            + (f":{url.port}" if url.port else "")
        return url._replace(netloc=netloc).geturl()
    return database_url


def eventsourcing_env(database_url: str | None,
                      settings: "Settings | None" = None) -> dict[str, str]:
    """Translates DATABASE_URL (and the timeouts of `settings`) into the
    eventsourcing library's settings."""
    database_url = database_url or f"sqlite:///{default_store()}"
    url = urlparse(database_url)
    if url.scheme == "sqlite":
        path = unquote(database_url[len("sqlite:///"):]) if database_url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError("DATABASE_URL sqlite:///PATH needs a file path")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "10"}
    if url.scheme in ("postgresql", "postgres"):
        query = parse_qs(url.query)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": (url.path or "/postgres").lstrip("/") or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": query.get("schema", [""])[0],
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["10"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["10"])[0],
            **({} if settings is None else {
                "POSTGRES_LOCK_TIMEOUT": str(settings.lock_timeout),
                "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT":
                    str(settings.idle_in_transaction_timeout),
                "POSTGRES_CONNECT_TIMEOUT": str(settings.connect_timeout)}),
        }
    raise ConfigError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not {url.scheme!r}")


def parse_routes(raw: str, departments: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """`category=dept+dept;category=dept` as a dict; every department must be known."""
    routes: dict[str, tuple[str, ...]] = {}
    for part in (p.strip() for p in raw.split(";") if p.strip()):
        category, _, targets = part.partition("=")
        summoned = tuple(d.strip() for d in targets.split("+") if d.strip())
        unknown = [d for d in summoned if d not in departments]
        if not category.strip() or not summoned or unknown:
            raise ConfigError(f"ROUTES: {part!r} must be category=department[+department] "
                              f"of known departments")
        routes[category.strip()] = summoned
    return routes


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    departments: tuple[str, ...] = DEFAULT_DEPARTMENTS
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    kafka_bootstrap_servers: str | None = None
    topic_prefix: str = "redwhistle"
    write_retries: int = 12
    # Concurrent writes share transactions (service_layer/store/group_commit.py);
    # GROUP_COMMIT=0 writes each request in a transaction of its own.
    group_commit: bool = True
    # Compounds kept in memory after a write (service_layer/store/write_cache.py);
    # WRITE_CACHE_SIZE=0 loads every one from the store.
    write_cache_size: int = 1000
    # Ask the store for newer events before each write from the cache (one
    # query). `serve --workers N` turns it on: API processes sharing a store
    # would otherwise find each other's writes by failing on them, half the time.
    write_cache_check: bool = False
    # Open311 (docs/open311.md): category -> departments, and how far from a
    # request's lat/long the nearest compound may be.
    routes: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: parse_routes(DEFAULT_ROUTES, DEFAULT_DEPARTMENTS))
    open311_radius_m: float = 500.0
    # The dashboard's three-rates score (docs/dashboard.md), read once at start.
    three_rates_weights: tuple[float, float, float] = DEFAULT_THREE_RATES_WEIGHTS

    def route(self, category: str) -> list[str]:
        return list(self.routes.get(category) or (FALLBACK_DEPARTMENT,))
    # Hostile input (api/limits.py, service_layer/store/group_commit.py): a request
    # body or one event's stored state above these is refused (413) before
    # any lock is taken, so one writer cannot hold the log's lock for long.
    max_body_bytes: int = 256 * 1024
    max_event_bytes: int = 64 * 1024
    # PostgreSQL, in seconds (0: none). statement_timeout applies to the API's
    # connections only (`bootstrap(..., api=True)`): rebuilds and exports may
    # run longer. lock_timeout bounds a writer's wait for the log's lock;
    # connect_timeout a wait for a connection (the pool's and libpq's).
    statement_timeout: float = 30
    lock_timeout: int = 5
    idle_in_transaction_timeout: int = 5
    connect_timeout: int = 5
    # `?after=` waiters parked at once per API process (more: 503).
    max_waiters: int = 256

    @classmethod
    def from_env(cls) -> "Settings":
        departments = _list("DEPARTMENTS", DEFAULT_DEPARTMENTS)
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            deadlines=DeadlinePolicy.from_hours(
                _hours("REPORT_DUE_URGENT_HOURS", 2), _hours("REPORT_DUE_NORMAL_HOURS", 24),
                _hours("RESOLVE_DUE_URGENT_HOURS", 24), _hours("RESOLVE_DUE_NORMAL_HOURS", 168)),
            departments=departments,
            categories=_list("CATEGORIES", DEFAULT_CATEGORIES),
            kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            topic_prefix=os.environ.get("TOPIC_PREFIX", "redwhistle"),
            group_commit=_flag("GROUP_COMMIT", True),
            write_cache_size=int(env_number("WRITE_CACHE_SIZE", 1000, int, "a whole number")),
            write_cache_check=_flag("WRITE_CACHE_CHECK", False),
            routes=parse_routes(os.environ.get("ROUTES") or DEFAULT_ROUTES, departments),
            open311_radius_m=env_number("OPEN311_RADIUS_METRES", 500.0, float, "metres"),
            three_rates_weights=_weights("THREE_RATES_WEIGHTS", DEFAULT_THREE_RATES_WEIGHTS),
            max_body_bytes=int(env_number("MAX_BODY_BYTES", 256 * 1024, int, "a number of bytes")),
            max_event_bytes=int(env_number("MAX_EVENT_BYTES", 64 * 1024, int,
                                           "a number of bytes")),
            statement_timeout=env_number("STATEMENT_TIMEOUT", 30, float, "a number of seconds"),
            lock_timeout=int(env_number("LOCK_TIMEOUT", 5, int, "a whole number of seconds")),
            idle_in_transaction_timeout=int(env_number("IDLE_IN_TRANSACTION_TIMEOUT", 5, int,
                                                       "a whole number of seconds")),
            connect_timeout=int(env_number("DATABASE_CONNECT_TIMEOUT", 5, int,
                                           "a whole number of seconds")),
            max_waiters=int(env_number("MAX_WAITERS", 256, int, "a whole number")),
        )
