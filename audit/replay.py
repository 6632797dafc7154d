"""Published figures recomputed as of a cut, and views replayed from the log
and compared, row by row, with the live tables or a published CSV.

Everything here reads; the only writes are scratch view tables, which are
dropped again before returning.
"""
from __future__ import annotations

import csv
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from adapters.eventstore import Log
from adapters.limits import CODE, check_day, check_name, check_year
from adapters.settings import Settings
from audit.chain import Chain
from audit.cuts import BadInput, UnknownQuery, cut_at, parse_cut
from audit.hashing import canonical_json
from projections.feed import View, drop, rebuild, tracked_position
from projections.registry import all_views


# -- views as of a moment -----------------------------------------------------
def _date(value: str) -> date:
    return check_day(date.fromisoformat(value))


def _year(value: str) -> int:
    return check_year(int(value))


def _code(value: str) -> str:
    if not CODE.fullmatch(value):
        raise ValueError("must be 1 to 64 letters, digits, '_', '.' or '-'")
    return value


def _name(value: str) -> str:
    if not 1 <= len(value) <= 200:
        raise ValueError("must be 1 to 200 characters")
    return check_name(value)


def _moment(value: str, name: str = "time") -> datetime:
    moment = parse_cut(value, name)
    if isinstance(moment, int):
        raise BadInput(f"expected an ISO 8601 time, not {value!r}", name)
    return moment


@dataclass(frozen=True)
class Query:
    """A published figure: the view(s) it reads, its query function, and how
    the API flattens it into CSV rows (so a published CSV can be compared)."""
    name: str
    run: Callable[..., Any]  # (log, prefix, now, settings, **params) -> the figure
    params: dict[str, Callable[[str], Any]]
    required: tuple[str, ...] = ()
    views: tuple[str, ...] | None = None  # None: every registered view
    doc: str = ""
    flatten: Callable[[Any], list[dict[str, Any]]] | None = None
    columns: tuple[str, ...] | None = None  # the published CSV's columns

    def parse(self, raw: dict[str, str]) -> dict[str, Any]:
        unknown = sorted(set(raw) - set(self.params))
        if unknown:
            raise BadInput(f"{self.name} takes {', '.join(sorted(self.params)) or 'no parameters'}"
                           f"; unknown: {', '.join(unknown)}", "query")
        missing = [p for p in self.required if p not in raw]
        if missing:
            raise BadInput(f"{self.name} needs {', '.join(missing)}", "query")
        out = {}
        for key, value in raw.items():
            try:
                out[key] = self.params[key](value)
            except (ValueError, TypeError) as exc:
                raise BadInput(f"{key}: {exc}", key) from None
        return out

    def rows(self, figure: Any) -> list[dict[str, Any]]:
        return self.flatten(figure) if self.flatten else rows_of(figure)


def queries() -> dict[str, Query]:
    """The published figures auditors can recompute, by name. The views'
    modules are imported lazily: a view that is not installed is not offered."""
    found: dict[str, Query] = {}
    for adapter in (_dashboard_queries, _agenda_queries, _rankings_queries):
        try:
            for q in adapter():
                found[q.name] = q
        except ImportError:
            continue
    return found


def _dashboard_queries() -> list[Query]:
    from projections.dashboard import query as dq

    def run(log: Log, prefix: str, now: datetime, settings: Settings, **p: Any) -> Any:
        if not p["from"] < p["to"]:
            raise BadInput("to must be later than from", "query")
        # the published figures' departments and weights, as the dashboard's
        return dq.response_rates(log, prefix, p["from"], p["to"], p.get("by", "department"),
                                 now, settings.departments, settings.three_rates_weights)

    def by(value: str) -> str:
        if value not in ("department", "street", "community", "compound"):
            raise ValueError("must be department, street, community or compound")
        return value
    return [Query("dashboard", run, {"from": dq.parse_bound, "to": dq.parse_bound, "by": by},
                  required=("from", "to"), views=("dashboard",), columns=tuple(dq.COLUMNS),
                  doc="response-rate dashboard (as GET /v1/dashboard/response-rates): from, "
                      "to (date or datetime), by; overdue judged at `now` (default as_of)")]


def _agenda_queries() -> list[Query]:
    from projections.agenda import query as agenda

    def compound(log: Log, prefix: str, now: datetime, settings: Settings, **p: Any) -> Any:
        return agenda.agenda_for_compound(log, prefix, p["code"], p["meeting_on"])

    def community(log: Log, prefix: str, now: datetime, settings: Settings, **p: Any) -> Any:
        return agenda.agenda_for_community(log, prefix, p["community"], p["meeting_on"])
    common = dict(views=("agenda",), flatten=agenda.agenda_rows,
                  columns=tuple(agenda.CSV_COLUMNS))
    return [Query("agenda", compound, {"code": _code, "meeting_on": _date},
                  required=("code", "meeting_on"), **common,
                  doc="joint-meeting agenda of a compound: code, meeting_on (date)"),
            Query("community-agenda", community, {"community": _name, "meeting_on": _date},
                  required=("community", "meeting_on"), **common,
                  doc="agenda rolled up per community: community, meeting_on (date)")]


def _rankings_queries() -> list[Query]:
    from projections.rankings import query as rankings

    def run(log: Log, prefix: str, now: datetime, settings: Settings, **p: Any) -> Any:
        return rankings.rankings(log, prefix, p["year"])
    return [Query("rankings", run, {"year": _year}, required=("year",), views=("rankings",),
                  flatten=rankings.ranking_rows, columns=tuple(rankings.CSV_COLUMNS),
                  doc="annual rankings of property companies: year")]


def query_named(name: str) -> Query:
    found = queries()
    if name not in found:
        raise UnknownQuery(f"unknown view query {name!r}; known: "
                           f"{', '.join(sorted(found)) or 'none'}", "name")
    return found[name]


def views_named(names: Iterable[str] | None) -> list[View]:
    views = all_views()
    if names is None:
        return views
    wanted = list(names)
    known = {v.name: v for v in views}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise BadInput(f"unknown view {', '.join(unknown)}; known: "
                       f"{', '.join(sorted(known)) or 'none'}", "view")
    return [known[n] for n in wanted]


def scratch_prefix() -> str:
    return f"audit{uuid.uuid4().hex[:10]}_"


# Told (stage, log position reached) as a long loop goes on: cli/progress.py.
Progress = Callable[[str, int], None]


@contextmanager
def scratch(log: Log, views: list[View], until: int,
            progress: Progress | None = None) -> Iterator[str]:
    """Builds the views from the events up to `until` into tables of a fresh
    prefix, yields the prefix, and drops them whatever happens."""
    prefix = scratch_prefix()
    stage = f"replay {','.join(v.name for v in views)}"
    try:
        rebuild(log, views, prefix, until,  # one read of the log for all
                progress=(lambda position: progress(stage, position)) if progress else None)
        yield prefix
    finally:
        for view in views:
            try:
                drop(log, view, prefix)
            except Exception:  # noqa: BLE001 - never hide the first error
                pass


def view_as_of(chain: Chain, settings: Settings, name: str, as_of: str | None,
               raw_params: dict[str, str], now: str | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """A published figure recomputed from the events recorded up to a moment."""
    query = query_named(name)
    params = query.parse(raw_params)
    cut = cut_at(chain, as_of)
    moment = _moment(now, "now") if now else cut.now(chain)
    with scratch(chain.log, views_named(query.views), cut.position, progress) as prefix:
        figure = query.run(chain.log, prefix, moment, settings, **params)
    return {"view": name, **cut.as_json(), "now": moment.isoformat(), "params": raw_params,
            "figure": figure}


def dashboard_as_of(chain: Chain, from_: datetime, to: datetime, by: str, when: datetime,
                    settings: Settings) -> tuple[list[dict[str, Any]], int]:
    """The dashboard as it stood at `when` (GET /v1/dashboard/response-rates
    ?as_of=): built from the events recorded by then, with `overdue` judged at
    `when`. Returns (rows, position)."""
    from projections.dashboard import query as dq
    cut = cut_at(chain, when)
    with scratch(chain.log, [dq.VIEW], cut.position) as prefix:
        rows, _ = dq.query(chain.log, prefix, from_, to, by, when, settings.departments,
                           settings.three_rates_weights)
    return rows, cut.position


def rows_of(result: Any) -> list[dict[str, Any]]:
    """A query's result as a list of flat rows (for CSV comparison)."""
    if isinstance(result, dict):
        for key in ("rows", "items", "entries"):
            if isinstance(result.get(key), list):
                return result[key]
        return [result]
    return list(result)


# -- replay: rebuilt vs live, or vs a published CSV ------------------------
@dataclass(frozen=True)
class Difference:
    view: str
    table: str
    side: str  # "live only" / "replay only" / "csv" ...
    detail: str

    def __str__(self) -> str:
        return f"{self.view}.{self.table}: {self.side}: {self.detail}"


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}") if math.isfinite(value) else repr(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in row)


def stored_rows(log: Log, table: str) -> tuple[list[str], list[tuple]]:
    with log.db.transaction(commit=False) as cur:
        cur.execute(f"SELECT * FROM {table}")
        rows = cur.fetchall()
        raw = cur._cursor  # noqa: SLF001 - the wrapper does not expose column names
        description = getattr(raw, "description", None) or raw.sqlite_cursor.description
        columns = [d[0] for d in description]
    return columns, sorted((tuple(_norm(v) for v in r) for r in rows), key=_sort_key)


def _live_snapshot(log: Log, view: View) -> tuple[int, dict[str, tuple]]:
    """The live tables and the position they reflect, read consistently (the
    follower may be writing meanwhile: read again until the position holds)."""
    db = log.db
    for _ in range(20):
        with db.transaction(commit=False) as cur:
            before = tracked_position(db, cur, view.name)
        tables = {base: stored_rows(log, view.table(db, "", base)) for base in view.tables}
        with db.transaction(commit=False) as cur:
            after = tracked_position(db, cur, view.name)
        if before == after:
            return before, tables
    raise RuntimeError(f"view {view.name} kept moving; stop the follower to compare")


def compare_rows(view: str, table: str, columns: list[str], live: list[tuple],
                 replayed: list[tuple]) -> list[Difference]:
    a, b = Counter(live), Counter(replayed)
    out = []
    for row in sorted((a - b).elements(), key=_sort_key):
        out.append(Difference(view, table, "live only", canonical_json(dict(zip(columns, row)))))
    for row in sorted((b - a).elements(), key=_sort_key):
        out.append(Difference(view, table, "replay only",
                              canonical_json(dict(zip(columns, row)))))
    return out


def _table_exists(log: Log, table: str) -> bool:
    try:
        log.db.fetchall(f"SELECT 1 FROM {table} WHERE 1 = 0")
        return True
    except Exception:  # noqa: BLE001 - a missing table raises a driver error
        return False


@dataclass
class Replay:
    views: dict[str, int] = field(default_factory=dict)  # view -> position compared at
    differences: list[Difference] = field(default_factory=list)
    rows_compared: int = 0


def replay(log: Log, view_names: list[str] | None, until: int | None = None,
           progress: Progress | None = None) -> Replay:
    """Rebuilds each view from the log into scratch tables and compares them,
    row by row, with the live tables at the live tables' position. `until`
    must then be that position (live tables only exist for their own)."""
    result = Replay()
    for view in views_named(view_names):
        if not all(_table_exists(log, view.table(log.db, "", b)) for b in view.tables):
            raise BadInput(f"view {view.name} has no live tables here; run the views first")
        position, live = _live_snapshot(log, view)
        if until is not None and until != position:
            raise BadInput(f"live view {view.name} stands at position {position}, not {until}: "
                           "compare a past moment with --against-csv")
        with scratch(log, [view], position, progress) as prefix:
            for base in view.tables:
                columns, rebuilt = stored_rows(log, view.table(log.db, prefix, base))
                result.differences += compare_rows(view.name, base, columns, live[base][1],
                                                   rebuilt)
                result.rows_compared += len(rebuilt)
        result.views[view.name] = position
    return result


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _same_cell(a: str, b: str) -> bool:
    """`b`, the published cell, may be rounded (the API's CSV rounds rates):
    a number is compared at the decimals it was published with."""
    if a == b:
        return True
    try:
        mine, theirs = float(a), float(b)
    except ValueError:
        return False
    _, dot, decimals = b.strip().partition(".")
    if dot and decimals.isdigit() and len(decimals) < 9:
        from projections.rankings.query import half_up  # the API's rounding
        mine = half_up(mine, len(decimals))
    return math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-9)


def compare_csv(name: str, rows: list[dict[str, Any]], path: Path,
                columns: list[str] | None = None) -> list[Difference]:
    """The recomputed rows against a CSV as the API publishes it (header row,
    one row per line, empty cell for null), in order."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        published = list(reader)
        header = reader.fieldnames or []
    out: list[Difference] = []
    columns = list(columns or (list(rows[0]) if rows else header))
    if header and list(header) != columns:
        out.append(Difference(name, "csv", "columns",
                              f"published {','.join(header)}; recomputed {','.join(columns)}"))
    for i in range(max(len(rows), len(published))):
        line = i + 2  # the header is line 1
        if i >= len(rows):
            out.append(Difference(name, "csv", f"line {line}", "published row not recomputed: "
                                  + canonical_json(published[i])))
            continue
        if i >= len(published):
            out.append(Difference(name, "csv", f"line {line}", "recomputed row not published: "
                                  + canonical_json({k: _cell(v) for k, v in rows[i].items()})))
            continue
        for column in columns:
            mine = _cell(rows[i].get(column))
            theirs = published[i].get(column) or ""
            if not _same_cell(mine, theirs):
                out.append(Difference(name, "csv", f"line {line}",
                                      f"{column}: published {theirs!r}, recomputed {mine!r}"))
    return out
