"""Auditors' use cases: read the log, travel in time, replay the views and
compare them with what was live or published, verify the hash chain, export.

Everything here reads; the only writes are the chain table (a pure function of
the log, see audit/chain.py) and scratch view tables, which are dropped
again before returning.
"""
from __future__ import annotations

import csv
import json
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from domain.ids import compound_id
from projections.feed import View, drop, rebuild, tracked_position
from audit.chain import Chain, Seal, events_table, position_column, read_raw
from audit.hashing import (GENESIS, canonical_bytes, canonical_json, chain_digest, record,
                           record_of)
from projections.registry import all_views
from service_layer.bootstrap import Services
from adapters.limits import (CODE, MAX_POSITION, check_day, check_moment, check_name,
                                  check_year)


class BadInput(ValueError):
    """Input an auditor got wrong: the CLI exits 2, the API answers 422
    naming `field` when it is known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- moments --------------------------------------------------------------
@dataclass(frozen=True)
class Cut:
    """A moment of the log: every event at a position <= `position`."""
    position: int
    moment: datetime | None  # the time asked for, or None when a position was given

    def now(self, services: Services) -> datetime:
        """The clock reading a view query uses at this moment: the time asked
        for, or the recording time of the event at the position."""
        if self.moment is not None:
            return self.moment
        stamp = Chain.of(services).recorded_time(self.position)
        if stamp:
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc)

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position,
                "as_of": self.moment.isoformat() if self.moment else None}


def parse_moment(text: str, name: str = "as_of") -> int | datetime:
    """A log position (digits) or an ISO 8601 time within the window of
    adapters/limits.py; a time without a zone is UTC."""
    text = (text or "").strip()
    if text.isdigit():
        if int(text) > MAX_POSITION:
            raise BadInput(f"{name} is beyond any log position", name)
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{name} must be a log position or an ISO 8601 time, not {text!r}",
                       name) from None
    try:
        check_moment(moment)
    except ValueError as exc:
        raise BadInput(f"{name} {exc}", name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def resolve(services: Services, as_of: int | datetime | str | None) -> Cut:
    """A time resolves to the last position whose event was recorded at or
    before it (the event's own timestamp, set as it was stored)."""
    if isinstance(as_of, str):
        as_of = parse_moment(as_of)
    if as_of is None:
        return Cut(services.app.recorder.max_notification_id() or 0, None)
    if isinstance(as_of, int):
        return Cut(as_of, None)
    return Cut(Chain.of(services).position_at(as_of), as_of)


# -- the log, as auditors read it -------------------------------------------
def _with_digests(services: Services, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stored = Chain.of(services).digests([r["position"] for r in records])
    return [dict(r, digest=stored.get(r["position"])) for r in records]


def log_page(services: Services, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """The global log in order, a page at a time. `digest` is the stored chain
    digest (null for events not chained yet)."""
    got = services.app.recorder.select_notifications(start=after, limit=limit,
                                                     inclusive_of_start=False)
    events = _with_digests(services, [record_of(n) for n in got])
    return {"events": events, "after": after,
            "next_after": events[-1]["position"] if events else after,
            "head": services.app.recorder.max_notification_id() or 0}


def _compound_rows(services: Services, code: str, until: int | None = None) -> list[tuple]:
    oid = compound_id(code)
    pos = position_column(services)
    sql = (f"SELECT {pos}, originator_id, originator_version, topic, state "
           f"FROM {events_table(services)} WHERE originator_id = ?")
    params: list[Any] = [oid if services.db.is_postgres else oid.hex]
    if until is not None:
        sql += f" AND {pos} <= ?"
        params.append(until)
    return services.db.fetchall(sql + " ORDER BY originator_version", params)


def compound_events(services: Services, code: str) -> list[dict[str, Any]]:
    rows = _compound_rows(services, code)
    if not rows:
        from domain.exceptions import UnknownFact
        raise UnknownFact(f"compound {code} is not registered")
    return _with_digests(services, [record(*r) for r in rows])


def compound_as_of(services: Services, code: str, as_of: str) -> tuple[Any, Cut]:
    """The compound as it stood at a moment: loaded at the last version
    recorded at or before it."""
    from domain.exceptions import UnknownFact
    cut = resolve(services, as_of)
    rows = _compound_rows(services, code, until=cut.position)
    if not rows:
        raise UnknownFact(f"compound {code} was not registered as of {as_of}")
    version = max(int(r[2]) for r in rows)
    return services.app.repository.get(compound_id(code), version=version), cut


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
    moment = parse_moment(value, name)
    if isinstance(moment, int):
        raise BadInput(f"expected an ISO 8601 time, not {value!r}", name)
    return moment


@dataclass(frozen=True)
class Query:
    """A published figure: the view(s) it reads, its query function, and how
    the API flattens it into CSV rows (so a published CSV can be compared)."""
    name: str
    run: Callable[..., Any]  # (services, prefix, now, **params) -> the figure
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
                           f"; unknown: {', '.join(unknown)}")
        missing = [p for p in self.required if p not in raw]
        if missing:
            raise BadInput(f"{self.name} needs {', '.join(missing)}")
        out = {}
        for key, value in raw.items():
            try:
                out[key] = self.params[key](value)
            except (ValueError, TypeError) as exc:
                raise BadInput(f"{key}: {exc}", key) from None
        return out

    def rows(self, figure: Any) -> list[dict[str, Any]]:
        return self.flatten(figure) if self.flatten else rows_of(figure)


_EXTRA_QUERIES: dict[str, Query] = {}


def register_query(query: Query) -> None:
    """Lets a view (or a test) offer a query to the audit endpoints."""
    _EXTRA_QUERIES[query.name] = query


def unregister_query(name: str) -> None:
    _EXTRA_QUERIES.pop(name, None)


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
    found.update(_EXTRA_QUERIES)
    return found


def _dashboard_queries() -> list[Query]:
    from projections.dashboard import query as dq

    def run(services: Services, prefix: str, now: datetime, **p: Any) -> Any:
        if not p["from"] < p["to"]:
            raise BadInput("to must be later than from")
        return dq.response_rates(services, prefix, p["from"], p["to"],
                                 p.get("by", "department"), now)

    def by(value: str) -> str:
        if value not in ("department", "street", "community", "compound"):
            raise ValueError("must be department, street, community or compound")
        return value
    return [Query("dashboard", run, {"from": dq.parse_bound, "to": dq.parse_bound, "by": by},
                  required=("from", "to"), views=("dashboard",), columns=tuple(dq.COLUMNS),
                  doc="response-rate dashboard (as GET /v1/dashboard/response-rates): from, "
                      "to (date or datetime), by; overdue judged at `now` (default as_of)")]


def _agenda_queries() -> list[Query]:
    from projections.agenda import view as agenda

    def compound(services: Services, prefix: str, now: datetime, **p: Any) -> Any:
        return agenda.agenda_for_compound(services, prefix, p["code"], p["meeting_on"])

    def community(services: Services, prefix: str, now: datetime, **p: Any) -> Any:
        return agenda.agenda_for_community(services, prefix, p["community"], p["meeting_on"])
    common = dict(views=("agenda",), flatten=agenda.agenda_rows,
                  columns=tuple(agenda.CSV_COLUMNS))
    return [Query("agenda", compound, {"code": _code, "meeting_on": _date},
                  required=("code", "meeting_on"), **common,
                  doc="joint-meeting agenda of a compound: code, meeting_on (date)"),
            Query("community-agenda", community, {"community": _name, "meeting_on": _date},
                  required=("community", "meeting_on"), **common,
                  doc="agenda rolled up per community: community, meeting_on (date)")]


def _rankings_queries() -> list[Query]:
    from projections.rankings import view as rankings

    def run(services: Services, prefix: str, now: datetime, **p: Any) -> Any:
        return rankings.rankings(services, prefix, p["year"])
    return [Query("rankings", run, {"year": _year}, required=("year",), views=("rankings",),
                  flatten=rankings.ranking_rows, columns=tuple(rankings.CSV_COLUMNS),
                  doc="annual rankings of property companies: year")]


def query_named(name: str) -> Query:
    found = queries()
    if name not in found:
        raise BadInput(f"unknown view query {name!r}; known: {', '.join(sorted(found)) or 'none'}")
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
                       f"{', '.join(sorted(known)) or 'none'}")
    return [known[n] for n in wanted]


def scratch_prefix() -> str:
    return f"audit{uuid.uuid4().hex[:10]}_"


# Told (stage, log position reached) as a long loop goes on: cli/progress.py.
Progress = Callable[[str, int], None]


@contextmanager
def scratch(services: Services, views: list[View], until: int,
            progress: Progress | None = None) -> Iterator[str]:
    """Builds the views from the events up to `until` into tables of a fresh
    prefix, yields the prefix, and drops them whatever happens."""
    prefix = scratch_prefix()
    stage = f"replay {','.join(v.name for v in views)}"
    try:
        rebuild(services, views, prefix, until,  # one read of the log for all
                progress=(lambda position: progress(stage, position)) if progress else None)
        yield prefix
    finally:
        for view in views:
            try:
                drop(services, view, prefix)
            except Exception:  # noqa: BLE001 - never hide the first error
                pass


def view_as_of(services: Services, name: str, as_of: str | None,
               raw_params: dict[str, str], now: str | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """A published figure recomputed from the events recorded up to a moment."""
    query = query_named(name)
    params = query.parse(raw_params)
    cut = resolve(services, as_of)
    moment = _moment(now, "now") if now else cut.now(services)
    with scratch(services, views_named(query.views), cut.position, progress) as prefix:
        figure = query.run(services, prefix, moment, **params)
    return {"view": name, **cut.as_json(), "now": moment.isoformat(), "params": raw_params,
            "figure": figure}


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


def table_rows(services: Services, table: str) -> tuple[list[str], list[tuple]]:
    with services.db.transaction(commit=False) as cur:
        cur.execute(f"SELECT * FROM {table}")
        rows = cur.fetchall()
        raw = cur._cursor  # noqa: SLF001 - the wrapper does not expose column names
        description = getattr(raw, "description", None) or raw.sqlite_cursor.description
        columns = [d[0] for d in description]
    return columns, sorted((tuple(_norm(v) for v in r) for r in rows), key=_sort_key)


def _live_snapshot(services: Services, view: View) -> tuple[int, dict[str, tuple]]:
    """The live tables and the position they reflect, read consistently (the
    follower may be writing meanwhile: read again until the position holds)."""
    db = services.db
    for _ in range(20):
        with db.transaction(commit=False) as cur:
            before = tracked_position(db, cur, view.name)
        tables = {base: table_rows(services, view.table(db, "", base)) for base in view.tables}
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


def _table_exists(services: Services, table: str) -> bool:
    try:
        services.db.fetchall(f"SELECT 1 FROM {table} WHERE 1 = 0")
        return True
    except Exception:  # noqa: BLE001 - a missing table raises a driver error
        return False


@dataclass
class Replay:
    views: dict[str, int] = field(default_factory=dict)  # view -> position compared at
    differences: list[Difference] = field(default_factory=list)
    rows_compared: int = 0


def replay(services: Services, view_names: list[str] | None, until: int | None = None,
           progress: Progress | None = None) -> Replay:
    """Rebuilds each view from the log into scratch tables and compares them,
    row by row, with the live tables at the live tables' position. `until`
    must then be that position (live tables only exist for their own)."""
    result = Replay()
    for view in views_named(view_names):
        if not all(_table_exists(services, view.table(services.db, "", b)) for b in view.tables):
            raise BadInput(f"view {view.name} has no live tables here; run the views first")
        position, live = _live_snapshot(services, view)
        if until is not None and until != position:
            raise BadInput(f"live view {view.name} stands at position {position}, not {until}: "
                           "compare a past moment with --against-csv")
        with scratch(services, [view], position, progress) as prefix:
            for base in view.tables:
                columns, rebuilt = table_rows(services, view.table(services.db, prefix, base))
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
        from projections.rankings.view import half_up  # the API's rounding
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


# -- verify -----------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    position: int
    kind: str  # edited / deleted / inserted / seal
    detail: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class SealLine:
    """A seal (position, digest) from the seals table, the Kafka topic, a
    seals file or an export; an export line also carries the event itself."""
    position: int
    digest: str
    sealed_at: str = ""
    canonical: bytes | None = None  # the exported event's canonical bytes


@dataclass
class Verification:
    head: int = 0  # the log's last position
    chained: int = 0  # the chain's last position
    events: int = 0
    unchained: int = 0  # events after the chain's head (not chained yet)
    seals_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    more: int = 0  # findings beyond the ones kept
    digest: str = GENESIS  # recomputed digest of the whole log

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return min(self.findings, key=lambda f: f.position) if self.findings else None


MAX_FINDINGS = 1000


def seals_from_lines(lines: Iterable[str], source: str) -> Iterator[SealLine]:
    """JSON lines with position and digest (an export or a seals dump), in
    increasing position order."""
    last = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
            position, digest = int(body["position"]), str(body["digest"])
        except (ValueError, KeyError, TypeError):
            raise BadInput(f"{source} line {number} is not a seal or an exported event") from None
        if position <= last:
            raise BadInput(f"{source} line {number}: positions must increase")
        last = position
        canonical = None
        if all(k in body for k in ("originator_id", "originator_version", "topic", "state")):
            canonical = canonical_bytes(body)
        yield SealLine(position, digest, str(body.get("sealed_at", "")), canonical)


def _seal_lines(seals: Iterable[Seal]) -> Iterator[SealLine]:
    for s in sorted(seals, key=lambda s: s.position):
        yield SealLine(s.position, s.digest, s.sealed_at)


def verify(services: Services, seals: Iterable[SealLine] | None = None,
           use_stored_seals: bool = True, progress: Progress | None = None) -> Verification:
    """Recomputes the chain over the log and compares it with the stored
    chain, the stored seals, and `seals` from outside (file or Kafka).

    Each comparison is re-anchored on the stored digest it compares with, so
    every tampered position is named, not only the first:
      - edited: the event at a chained position does not hash to its digest
        (or differs from an exported copy);
      - deleted: a chained (or exported) position is missing from the log;
      - inserted: a position within the chained (or exported) range that was
        never chained (exported);
      - seal: the log up to a seal's position no longer hashes to the seal.
    A reordering shows as two edits. Events after the chain's head are
    counted as unchained: nothing covers them yet."""
    chain = Chain.of(services)
    out = Verification(head=services.app.recorder.max_notification_id() or 0)
    out.chained = chain.head()[0]

    def found(position: int, kind: str, detail: str) -> None:
        if len(out.findings) < MAX_FINDINGS:
            out.findings.append(Finding(position, kind, detail))
        else:
            out.more += 1

    streams: list[_SealStream] = []
    if use_stored_seals:
        streams.append(_SealStream("stored seal", _seal_lines(chain.stored_seals())))
    if seals is not None:
        streams.append(_SealStream("external seal", iter(seals)))

    chain_rows = chain.rows()
    c = next(chain_rows, None)
    recomputed = anchored = GENESIS
    for batch in read_raw(services):
        for n in batch:
            rec = record_of(n)
            canonical = canonical_bytes(rec)
            position = rec["position"]
            out.events += 1
            for stream in streams:
                stream.before(position, found)
            while c is not None and c[0] < position:
                found(c[0], "deleted", "chained, but missing from the log")
                anchored = c[1]
                c = next(chain_rows, None)
            previous, recomputed = recomputed, chain_digest(recomputed, canonical)
            if c is not None and c[0] == position:
                mine = recomputed if anchored == previous else chain_digest(anchored, canonical)
                if mine != c[1]:
                    found(position, "edited", "the event does not hash to its chained digest")
                anchored = c[1]
                c = next(chain_rows, None)
            elif position <= out.chained:
                found(position, "inserted", "in the log, but never chained")
            else:
                out.unchained += 1
            for stream in streams:
                stream.at(position, canonical, previous, recomputed, found)
        if progress and batch:
            progress("verify", position)
    while c is not None:
        found(c[0], "deleted", "chained, but missing from the log")
        c = next(chain_rows, None)
    for stream in streams:
        stream.before(2 ** 62, found)
        out.seals_checked += stream.checked
    out.digest = recomputed
    out.findings.sort(key=lambda f: (f.position, f.kind))
    return out


class _SealStream:
    """One source of seals, walked beside the log. Its own digest of the log
    is re-anchored on each seal, so each seal judges only the events since
    the one before it."""

    def __init__(self, name: str, lines: Iterator[SealLine]) -> None:
        self.name = name
        self.lines = lines
        self.next = next(lines, None)
        self.digest = GENESIS  # the log's digest so far, anchored on the last seal
        self.seen = 0  # the last seal position passed
        self.checked = 0

    def _advance(self) -> None:
        self.seen = self.next.position
        self.digest = self.next.digest
        self.checked += 1
        self.next = next(self.lines, None)

    def before(self, position: int, found: Callable[[int, str, str], None]) -> None:
        """Seals below `position`, which the log does not have."""
        while self.next is not None and self.next.position < position:
            s = self.next
            if s.canonical is not None:
                found(s.position, "deleted", f"the {self.name} has an event here; the log "
                                             "does not")
            elif s.digest != self.digest:
                self._mismatch(s, found)
            self._advance()

    def at(self, position: int, canonical: bytes, previous: str, recomputed: str,
           found: Callable[[int, str, str], None]) -> None:
        self.digest = recomputed if self.digest == previous else \
            chain_digest(self.digest, canonical)
        s = self.next
        if s is None or s.position != position:
            if s is not None and self.seen and s.canonical is not None:
                found(position, "inserted", f"in the log, but not in the {self.name}s")
            return
        if s.canonical is not None and s.canonical != canonical:
            found(position, "edited", f"the event differs from the {self.name}'s copy")
        elif s.digest != self.digest:
            self._mismatch(s, found)
        self._advance()

    def _mismatch(self, s: SealLine, found: Callable[[int, str, str], None]) -> None:
        if s.canonical is not None:
            found(s.position, "seal", f"the digest differs from the {self.name}'s")
        else:
            found(s.position, "seal", f"the log up to here does not hash to the {self.name} "
                                      f"of {s.sealed_at or 'unknown time'}: an event after "
                                      f"position {self.seen} and at or before this one "
                                      "changed since")


# -- export -----------------------------------------------------------------
def export(services: Services, out_path: Path, after: int = 0,
           progress: Progress | None = None) -> tuple[int, str]:
    """Writes the log after `after` as JSON lines (docs/audit.md): one event a
    line with its chain digest, recomputed from the log as it is now, starting
    from the stored chain digest at `after`. Returns (events, last digest)."""
    chain = Chain.of(services)
    if after:
        chain.advance(until=after)  # the chain must reach `after` to start from it
    digest = chain.digest_at(after) if after else GENESIS
    count = 0
    tmp = out_path.with_name(out_path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for batch in read_raw(services, after):
            for n in batch:
                rec = record_of(n)
                previous, digest = digest, chain_digest(digest, canonical_bytes(rec))
                f.write(canonical_json(dict(rec, digest=digest, prev=previous)) + "\n")
                count += 1
            if progress and batch:
                progress("export", rec["position"])
    tmp.replace(out_path)
    return count, digest


def write_seals(seals: Iterable[Seal], out_path: Path) -> int:
    count = 0
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for s in seals:
            f.write(canonical_json(s.as_json()) + "\n")
            count += 1
    return count
