"""The response-rate dashboard view: one row per summons, rolled up by period.

Tables (docs/dashboard.md has the definitions word for word):

- `compounds`  one row per registered compound: its street and community, so
  whistles (which name no geography) can be attributed.
- `summonses`  one row per whistle × summoned department, the issue's own
  state copied onto each row; `lead` marks one row per issue so issue-level
  figures count once for a street, community or compound.
- `rollup`     per (dimension, grain, period, key) the counts of the issues
  blown in that period. Grains are local days, 旬 and months, and running
  totals through a month (dashboard_running.py), so a range of whole days is
  a handful of rows a key (dashboard_calendar.py).
- `report_minutes` the same periods with histograms of whole minutes to
  report, one row per period and key with the histogram's slots packed into
  numbers that add up (dashboard_cdf.py). They find the slot that holds a
  rank; only that slot's minutes are then read, from an index of
  `summonses`, so medians and percentiles are exact without reading every
  minute.

The rollups are kept by deltas: each touched issue's contribution before the
batch is subtracted and its contribution after is added. `rebuild_rollups`
derives them from `summonses` instead; tests check the two agree.

A rebuild from the start of the log does not keep them batch by batch: that
writes some ten rollup rows per event, scattered over ever larger indexes,
and ran at a tenth of the speed of reading the log. It marks them `stale`,
feeds only `compounds` and `summonses`, and derives the rollups once when
feeding stops (`settle`); the indexes only queries read are likewise built
then. While they are stale the query reads the whole range row by row from
`summonses`: slower, the same figures.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from domain.compound import Compound
from projections.feed import Batch, View, tracked_position
from projections.dashboard import cdf
from projections.dashboard import running
from projections.bulk import upsert, where_in
from projections.dashboard.calendar import (
    day_date, local_day, month_day, month_id, periods, to_us, xun_id)
from projections.dashboard.rows import COUNTS, SUMMONS_COLUMNS, Issue, row_measures
from adapters.db import Cursor, Database
from adapters.migrate import hold_tables_lock

DIMENSIONS = ("department", "street", "community", "compound")


def _plus_counts(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b)]


# The events that change an issue's figures (progress notes change none).
_ISSUE_EVENTS = (Compound.WhistleBlown, Compound.DepartmentReported, Compound.IssueResolved,
                 Compound.ResidentRated, Compound.IssueReopened, Compound.IssueEscalated,
                 Compound.DeclineAccepted, Compound.DepartmentSummoned,
                 Compound.ExtensionApproved, Compound.IssueClosedAsDuplicate)
# Those and registrations: the rest (progress notes, meetings, …) is dropped
# by type before any other work, as the other views do.
_FOLDED = frozenset((Compound.Registered, *_ISSUE_EVENTS))


class DashboardView(View):
    name = "dashboard"
    cost = 1.65
    rewritten = ("summonses",)
    tables = ("compounds", "summonses", "rollup", "report_minutes", "stale")

    def names(self, db: Database, prefix: str) -> dict[str, str]:
        return {b: self.table(db, prefix, b) for b in self.tables}

    def create_tables(self, db: Database, cur: Cursor, prefix: str) -> None:
        t = self.names(db, prefix)
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['compounds']} (id TEXT PRIMARY KEY, "
                    "code TEXT NOT NULL, street TEXT NOT NULL, community TEXT NOT NULL)")
        text = {"compound", "issue_id", "department", "street", "community"}
        cols = ", ".join(f"{c} {'TEXT' if c in text else 'BIGINT'}"
                         + ("" if c in Issue.NULLABLE else " NOT NULL") for c in SUMMONS_COLUMNS)
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['summonses']} ({cols}, "
                    "PRIMARY KEY (compound, issue_id, department))")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {prefix}rw_dashboard_summonses_issue "
                    f"ON {t['summonses']} (issue_id)")  # loading the rows an event changes
        self._create_indexes(cur, prefix, t)
        # A row here: the rollups are not kept and have to be derived.
        cur.execute(f"CREATE TABLE IF NOT EXISTS {t['stale']} (id INTEGER PRIMARY KEY)")
        counts = ", ".join(f"{c} BIGINT NOT NULL" for c in COUNTS)
        # Queries read it by ranges of its primary key; keep the counts in the
        # key's order: a clustered table on SQLite, an index that includes
        # them on PostgreSQL (index-only scans).
        table = f"{t['rollup']} ({cdf.PERIOD_SQL}, {counts}, PRIMARY KEY ({', '.join(cdf.PERIOD)})"
        if db.is_postgres:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {table} INCLUDE ({', '.join(COUNTS)}))")
        else:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {table}) WITHOUT ROWID")
        self._migrate(db, cur, prefix, t)

    def _migrate(self, db: Database, cur: Cursor, prefix: str, t: dict) -> None:
        """Tables of an earlier version (`buckets` and `minutes`, then `cdf` in
        decimal fields, then `histograms` in NUMERIC) go, and the rollups are
        marked stale, so the next feed derives `report_minutes` from the rows,
        as after a rebuild."""
        for gone in ("buckets", "minutes", "cdf", "histograms"):
            cur.execute(f"DROP TABLE IF EXISTS {self.table(db, prefix, gone)}")
        # (an index on `blown` alone, before `span` covered the minutes)
        cur.execute(f"DROP INDEX IF EXISTS {db.table(f'{prefix}rw_dashboard_summonses_blown')}")
        cdf.create(db, cur, t["report_minutes"])
        cur.execute(f"SELECT 1 FROM {t['report_minutes']} LIMIT 1")
        if cur.fetchone() or self.stale(db, cur, prefix):
            return
        cur.execute(f"SELECT 1 FROM {t['rollup']} WHERE reported > 0 LIMIT 1")
        if cur.fetchone():  # reported summonses and no histogram of them
            self.begin_rebuild(db, cur, prefix)

    @staticmethod
    def _indexes(prefix: str) -> list[tuple[str, str]]:
        """The indexes of `summonses` that only queries read: (name, spec)."""
        ix = f"{prefix}rw_dashboard_summonses"
        return [
            # A range read row by row: its part-days, and a short range's
            # minutes (dashboard_percentiles._from_rows_sql), from the index alone.
            (f"{ix}_span", "(blown, minutes, department, street, community, compound)"),
            # The partial indexes hold only what is not yet due (or not yet
            # escalated): the backlog, however long the history grows.
            # (with the columns the overdue query reads, so it needs no table)
            (f"{ix}_due", "(first_due, blown, department) WHERE first_due IS NOT NULL"),
            (f"{ix}_issue_due", "(issue_first_due, blown, street, community, compound) "
                                "WHERE lead = 1 AND issue_first_due IS NOT NULL"),
            (f"{ix}_watch", "(watch_due) WHERE watch_due IS NOT NULL"),
            # The last step of a percentile: the minutes of one key in one
            # slot of minutes, a single stretch of the index however long
            # the range (whose `blown` is read from the index too).
            *((f"{ix}_minutes_{dim}", f"({dim}, minutes, blown) WHERE minutes IS NOT NULL")
              for dim in DIMENSIONS)]

    def _create_indexes(self, cur: Cursor, prefix: str, t: dict) -> None:
        for name, spec in self._indexes(prefix):
            cur.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {t['summonses']} {spec}")

    # -- feeding -----------------------------------------------------------
    def begin_rebuild(self, db: Database, cur: Cursor, prefix: str) -> None:
        # Keeping the indexes only queries read was some 40% of writing the
        # rows batch by batch; `settle` builds them once over the finished
        # table. Until then a query reads the table instead: slower, the same.
        for name, _ in self._indexes(prefix):
            cur.execute(f"DROP INDEX IF EXISTS {db.table(name)}")
        cur.execute(f"INSERT INTO {self.table(db, prefix, 'stale')} (id) VALUES (1)")

    def stale(self, db: Database, cur: Cursor, prefix: str, lock: bool = False) -> bool:
        """Whether the rollups are not kept (a rebuild under way, or cut short)."""
        suffix = " FOR UPDATE" if lock and db.is_postgres else ""
        cur.execute(f"SELECT id FROM {self.table(db, prefix, 'stale')}{suffix}")
        return cur.fetchone() is not None

    def settle(self, db: Database, cur: Cursor, prefix: str) -> None:
        if not self.stale(db, cur, prefix):
            return
        # A starting follower may be creating the indexes: its lock, taken
        # first as a rebuild takes it, lest the two wait for each other.
        hold_tables_lock(db, cur)
        # Under the tracking lock, so no batch of another follower slips in
        # between the rows read here and the mark being cleared.
        tracked_position(db, cur, prefix + self.name, lock=True)
        if self.stale(db, cur, prefix, lock=True):
            # Indexes first: deriving the histograms reads `summonses` by `blown`.
            self._create_indexes(cur, prefix, self.names(db, prefix))
            self.rebuild_rollups(db, cur, prefix)
            cur.execute(f"DELETE FROM {self.table(db, prefix, 'stale')}")

    def apply(self, db: Database, cur: Cursor, prefix: str, batch: Batch) -> None:
        # Two feeders of one view may read the same tracked position; the
        # counters here are increments, so skip what this transaction can
        # already see applied instead of counting it twice.
        done = tracked_position(db, cur, prefix + self.name)
        events = [e for position, e in batch if position > done and type(e) in _FOLDED]
        if not events:
            return
        t = self.names(db, prefix)
        places = self._places(db, cur, t, events)
        stale = self.stale(db, cur, prefix)
        stored = self._load(db, cur, t, events)
        before = {} if stale else {k: Issue.from_rows(rows) for k, rows in stored.items()}
        state = {k: Issue.from_rows(rows) for k, rows in stored.items()}
        new_compounds = []
        for e in events:
            self._fold(e, state, places, new_compounds)
        if new_compounds:
            upsert(db, cur, t["compounds"], ("id", "code", "street", "community"), ("id",),
                   new_compounds)
        self._save(db, cur, t, prefix, before, state, stale)

    def _places(self, db: Database, cur: Cursor, t: dict,
                events: list) -> dict[int, tuple[str, str, str]]:
        """Compound id (as its `UUID.int`) -> (code, street, community) for the
        batch's issue events. Keyed by the number: a `UUID`'s hash, equality
        and text are Python calls, its `int` is not."""
        ids = sorted({str(UUID(int=i)) for i in
                      {e.originator_id.int for e in events if isinstance(e, _ISSUE_EVENTS)}})
        found: dict[int, tuple[str, str, str]] = {}
        for where, params in where_in(db, "id", ids):
            cur.execute(f"SELECT id, code, street, community FROM {t['compounds']} "
                        f"WHERE {where}", params)
            found.update({UUID(r[0]).int: (r[1], r[2], r[3]) for r in cur.fetchall()})
        return found

    def _load(self, db: Database, cur: Cursor, t: dict,
              events: list) -> dict[tuple, list[dict]]:
        """The stored rows of the issues the batch changes, by (compound, issue)."""
        wanted = sorted({e.issue_id for e in events if isinstance(e, _ISSUE_EVENTS)
                         and not isinstance(e, Compound.WhistleBlown)})
        rows: dict[tuple, list[dict]] = defaultdict(list)
        for where, params in where_in(db, "issue_id", wanted):
            cur.execute(f"SELECT {', '.join(SUMMONS_COLUMNS)} FROM {t['summonses']} "
                        f"WHERE {where}", params)
            for r in cur.fetchall():
                row = dict(zip(SUMMONS_COLUMNS, r))
                rows[(row["compound"], row["issue_id"])].append(row)
        return rows

    def _fold(self, e: Any, state: dict, places: dict, new_compounds: list) -> None:
        if isinstance(e, Compound.Registered):
            place = (e.code, e.street, e.community)
            places[e.originator_id.int] = place
            new_compounds.append((str(e.originator_id), *place))
            return
        if not isinstance(e, _ISSUE_EVENTS):
            return
        place = places.get(e.originator_id.int)
        if place is None:
            raise KeyError(str(e.originator_id))  # as it read when keyed by the text
        code, street, community = place
        if isinstance(e, Compound.WhistleBlown):
            at = to_us(e.at)
            state[(code, e.issue_id)] = Issue.blown(
                code, street, community, e.issue_id, e.departments, at,
                to_us(e.report_due_at), to_us(e.resolve_due_at), periods(local_day(at)))
            return
        issue = state.get((code, e.issue_id))
        if issue is None:
            return  # closed as a duplicate: no rows, no figures
        issue.fold(e)

    def _save(self, db: Database, cur: Cursor, t: dict, prefix: str, before: dict,
              state: dict, stale: bool) -> None:
        rows = [row for issue in state.values() for row in issue.table_rows()]
        gone = [(k[0], k[1], d) for k, issue in state.items() for d in sorted(issue.removed)]
        if gone:
            cur.executemany(f"DELETE FROM {t['summonses']} WHERE compound = ? AND issue_id = ? "
                            "AND department = ?", gone)
        upsert(db, cur, t["summonses"], SUMMONS_COLUMNS, ("compound", "issue_id", "department"),
               rows)
        if stale:
            return
        counts: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
        minutes: dict[tuple, int] = defaultdict(int)
        for k, issue in state.items():
            for sign, version in ((-1, before.get(k)), (1, issue)):
                if version is None:
                    continue
                c, m = version.contribution()
                for key, vector in c.items():
                    acc = counts[key]
                    for i, v in enumerate(vector):
                        acc[i] += sign * v
                for key, n in m.items():
                    minutes[key] += sign * n
        last = self._extend(cur, t, counts)
        counts.update(running.deltas(counts, last, _plus_counts))
        minutes.update(running.deltas(minutes, last, int.__add__))
        bare = f"{prefix}rw_{self.name}_"
        upsert(db, cur, t["rollup"], (*cdf.PERIOD, *COUNTS), cdf.PERIOD,
               [(*k, *v) for k, v in counts.items() if any(v)], add=bare + "rollup")
        by_period: dict[tuple, dict[int, int]] = defaultdict(dict)
        for (*k, minute), n in minutes.items():
            by_period[tuple(k)][minute] = n
        cdf.add(db, cur, t["report_minutes"],
                {k: cdf.pack(c, cdf.field(k[0])) for k, c in by_period.items()})

    def _extend(self, cur: Cursor, t: dict, counts: dict[tuple, list[int]]) -> dict[str, int]:
        """Per dimension the last month of the running totals, carried forward
        first if the batch's months go past it."""
        newest: dict[str, int] = {}
        for dim, grain, month, _ in counts:
            if grain == "m" and month > newest.get(dim, month - 1):
                newest[dim] = month
        tables = [(t["rollup"], COUNTS), (t["report_minutes"], cdf.COLUMNS)]
        return {dim: running.extend(cur, tables, dim, running.last_month(cur, t["rollup"], dim),
                                    month) for dim, month in newest.items()}

    # -- set-based twin ------------------------------------------------------
    def rebuild_rollups(self, db: Database, cur: Cursor, prefix: str) -> None:
        """Derives `rollup` and `report_minutes` from `summonses`. Used by the
        bench to load a million whistles, and by tests as an independent check
        of the incremental deltas."""
        t = self.names(db, prefix)
        for base in ("rollup", "report_minutes"):
            cur.execute(f"DELETE FROM {t[base]}")
        # Keys grouped bytewise (PostgreSQL's "C"), several times cheaper to
        # sort than by the locale, with room to sort in memory: with the
        # default work_mem a city's days by compound spill to disk
        # (bench/README.md).
        bytewise = ' COLLATE "C"' if db.is_postgres else ""
        if db.is_postgres:
            cur.execute("SET LOCAL work_mem = '256MB'")
        column = dict(d="day", m="month")
        for dim in DIMENSIONS:
            sums = ", ".join(f"SUM({m})" for m in row_measures(dim))
            for grain in column:
                p, s, head = column[grain], t["summonses"], "dim, grain, period, key"
                # Grouped and ordered by the table's key: the rows then go in
                # at the end of its index rather than all over it.
                cur.execute(f"INSERT INTO {t['rollup']} ({head}, {', '.join(COUNTS)}) "
                            f"SELECT '{dim}', '{grain}', {p}, {dim}{bytewise}, {sums} FROM {s} "
                            f"GROUP BY {p}, {dim}{bytewise} ORDER BY {p}, {dim}{bytewise}")
        cur.execute(f"SELECT MIN(blown), MAX(month) FROM {t['summonses']}")
        first, month = cur.fetchone()
        if first is None:
            return
        months = range(month_id(day_date(local_day(first))), month + 1)
        # The calendar as rows, for SQL has no portable one: each day's 旬, and
        # the months. (Both engines then do the work, not Python row by row.)
        calendar = ("WITH xuns(day, xun) AS (VALUES " + ", ".join(
            f"({d}, {xun_id(d)})" for d in range(month_day(months[0]), month_day(month + 1)))
            + "), months(period) AS (VALUES " + ", ".join(f"({m})" for m in months) + ") ")
        head = f"dim, grain, period, key, {', '.join(COUNTS)}"
        sums = ", ".join(f"SUM({c})" for c in COUNTS)
        running_sums = ", ".join(f"SUM(COALESCE(r.{c}, 0)) OVER w AS {c}" for c in COUNTS)
        for dim in DIMENSIONS:
            cur.execute(f"INSERT INTO {t['rollup']} ({head}) {calendar}"
                        f"SELECT ?, 'x', c.xun, r.key, {sums} FROM {t['rollup']} r "
                        "JOIN xuns c ON c.day = r.period WHERE r.dim = ? AND r.grain = 'd' "
                        "GROUP BY c.xun, r.key", [dim, dim])
            # Running totals: every month from a key's first (the first with a
            # summons) to the last, the months before it summing to nothing.
            cur.execute(f"INSERT INTO {t['rollup']} ({head}) {calendar}"
                        f"SELECT ?, 'c', period, key, {', '.join(COUNTS)} FROM "
                        f"(SELECT m.period, k.key, {running_sums} FROM (SELECT DISTINCT key "
                        f"FROM {t['rollup']} WHERE dim = ? AND grain = 'm') k CROSS JOIN months m "
                        f"LEFT JOIN {t['rollup']} r ON r.dim = ? AND r.grain = 'm' "
                        "AND r.period = m.period AND r.key = k.key "
                        "WINDOW w AS (PARTITION BY k.key ORDER BY m.period)) x "
                        "WHERE summonses > 0", [dim, dim, dim])
        cdf.derive(db, cur, t["report_minutes"], t["summonses"], DIMENSIONS, months)
