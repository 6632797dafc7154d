"""The hash chain catches tampering done straight in the events table, on
SQLite and PostgreSQL: each test chains and seals a real log, then edits,
deletes, inserts or reorders rows with SQL, and `verify` must name the position."""
from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from audit.chain import events_table, position_column
from audit.hashing import GENESIS, canonical_bytes, chain_digest, record
from audit.sealer import Sealer
from audit.cuts import BadInput, cut_at
from audit.export import export
from audit.log import compound_as_of
from audit.verify import seals_from_lines, verify
from domain.ids import compound_id
from service_layer.bootstrap import Services
from tests import story


def _write_log(services: Services, compounds: int = 3, whistles: int = 3, first: int = 0) -> int:
    """compounds x (registration + whistles) events; returns the last position."""
    gov = services.governance
    for i in range(first, first + compounds):
        code = f"HD-{i:03d}"
        gov.register_compound(**story.compound(code), at=None)
        for _ in range(whistles):
            body = story.whistle(["fire"])
            gov.blow_whistle(code, grid_worker="gw", **{**body, "unit": None})
    return services.app.recorder.max_notification_id()


def _sealed(services: Services) -> int:
    head = _write_log(services)
    sealer = Sealer(services.chain, services.settings, services.governance.clock, every_events=4)
    sealer.tick()
    sealer.seal_now()
    assert services.chain.head()[0] == head
    return head


def _sql(services: Services, sql: str, params: tuple = ()) -> None:
    log = services.log
    services.db.execute(sql.format(t=events_table(log), p=position_column(log)), params)


def _row(services: Services, position: int) -> tuple:
    return services.db.fetchall(
        "SELECT originator_id, originator_version, topic, state FROM {t} WHERE {p} = ?".format(
            t=events_table(services.log), p=position_column(services.log)), (position,))[0]


def _state(services: Services, position: int) -> dict:
    return json.loads(bytes(_row(services, position)[3]))


def test_digest_is_defined_by_the_canonical_bytes():
    rec = record(7, "12345678-1234-5678-1234-567812345678", 2, "m:C.E",
                 '{"b":1,"a":{"z":"中","y":[1.5,null]}}'.encode())
    canonical = canonical_bytes(rec)
    assert canonical == ('{"originator_id":"12345678-1234-5678-1234-567812345678",'
                         '"originator_version":2,"position":7,'
                         '"state":{"a":{"y":[1.5,null],"z":"中"},"b":1},"topic":"m:C.E"}'
                         ).encode("utf-8")
    import hashlib
    assert chain_digest(GENESIS, canonical) == hashlib.sha256(
        b"0" * 64 + canonical).hexdigest()


def test_untouched_log_verifies(services):
    head = _sealed(services)
    result = verify(services.chain)
    assert result.ok, result.findings
    assert (result.events, result.head, result.chained, result.unchained) == (head, head, head, 0)
    assert result.seals_checked >= 3
    # The chain is a pure function of the log: advancing again changes nothing.
    assert services.chain.advance().count == 0
    assert result.digest == services.chain.head()[1]


def test_events_after_the_chain_are_unchained_not_broken(services):
    head = _sealed(services)
    _write_log(services, compounds=1, whistles=1, first=50)
    result = verify(services.chain)
    assert result.ok and result.unchained == 2 and result.chained == head


def test_edited_payload_is_named(services):
    _sealed(services)
    state = _state(services, 5)
    state["description"] = "Nothing to see here"
    _sql(services, "UPDATE {t} SET state = ? WHERE {p} = ?", (json.dumps(state).encode(), 5))
    result = verify(services.chain)
    assert not result.ok
    assert result.first.position == 5 and result.first.kind == "edited"
    # the seal after it notices too, but nothing before 5 is blamed
    assert all(f.position >= 5 for f in result.findings)


def test_edited_topic_or_version_is_named(services):
    _sealed(services)
    _sql(services, "UPDATE {t} SET topic = ? WHERE {p} = ?",
         ("domain.compound:Compound.IssueResolved", 3))
    result = verify(services.chain)
    assert (result.first.position, result.first.kind) == (3, "edited")


def test_deleted_event_is_named(services):
    _sealed(services)
    _sql(services, "DELETE FROM {t} WHERE {p} = ?", (6,))
    result = verify(services.chain)
    assert (result.first.position, result.first.kind) == (6, "deleted")
    edited = [f for f in result.findings if f.kind == "edited"]
    assert not edited  # re-anchoring: the events after 6 are not blamed


def test_deleted_last_event_is_named(services):
    head = _sealed(services)
    _sql(services, "DELETE FROM {t} WHERE {p} = ?", (head,))
    result = verify(services.chain)
    assert (result.first.position, result.first.kind) == (head, "deleted")


def test_reordered_events_are_named(services):
    _sealed(services)
    # swap two rows' positions (through a free one: positions are unique)
    _sql(services, "UPDATE {t} SET {p} = ? WHERE {p} = ?", (990001, 4))
    _sql(services, "UPDATE {t} SET {p} = ? WHERE {p} = ?", (4, 7))
    _sql(services, "UPDATE {t} SET {p} = ? WHERE {p} = ?", (7, 990001))
    result = verify(services.chain)
    assert result.first.position == 4
    assert {f.position for f in result.findings if f.kind == "edited"} == {4, 7}


def test_event_inserted_into_the_past_is_named(services):
    """With no gap to use, an inserter has to move later events up a place."""
    head = _sealed(services)
    pos = position_column(services.log)
    forged = _row(services, 5)
    state = _state(services, 5)
    state["description"] = "forged"
    # Move positions 5..head up by one (in two steps: unique index), insert at 5.
    _sql(services, "UPDATE {t} SET {p} = {p} + 1000000 WHERE {p} >= ?", (5,))
    _sql(services, "UPDATE {t} SET {p} = {p} - 999999 WHERE {p} >= ?", (1000000,))
    oid = forged[0]
    version = 1000  # a version the compound never reached
    cols = f"{pos}, originator_id, originator_version, topic, state"
    _sql(services, f"INSERT INTO {{t}} ({cols}) VALUES (?, ?, ?, ?, ?)",
         (5, oid, version, forged[2], json.dumps(state).encode()))
    result = verify(services.chain)
    assert (result.first.position, result.first.kind) == (5, "edited")
    assert result.head == head + 1


def _leave_a_gap(services: Services) -> int:
    """A gap in the positions, as a rolled-back insert leaves one."""
    if services.db.is_postgres:
        # A stale write: the insert takes a position, then fails and rolls back.
        from eventsourcing.persistence import IntegrityError
        repo = services.app.repository
        stale = repo.get(compound_id("HD-000"))
        services.governance.blow_whistle("HD-000", grid_worker="gw",
                                         **{**story.whistle(["fire"]), "unit": None})
        stale.blow_whistle(**{**story.whistle(["fire"]), "unit": None}, grid_worker="gw",
                           policy=services.settings.deadlines, at=services.governance.clock())
        with pytest.raises(IntegrityError):
            services.app.save(stale)
    else:
        # SQLite hands out max(rowid) + 1 and never leaves a gap by itself; an
        # event removed before the chain saw it stands in for one.
        head = _write_log(services, compounds=1, whistles=1, first=60)
        _sql(services, "DELETE FROM {t} WHERE {p} = ?", (head - 1,))
    _write_log(services, compounds=1, whistles=1, first=70)
    positions = [r[0] for r in services.db.fetchall(
        "SELECT {p} FROM {t} ORDER BY {p}".format(t=events_table(services.log),
                                                  p=position_column(services.log)))]
    return next(p + 1 for p, q in zip(positions, positions[1:]) if q != p + 1)


def test_event_inserted_into_a_gap_is_named(services):
    """Positions have legitimate gaps; the chain remembers they were gaps."""
    _write_log(services)
    gap = _leave_a_gap(services)
    Sealer(services.chain, services.settings, services.governance.clock).seal_now()
    assert verify(services.chain).ok  # a gap is not a deletion
    forged = _row(services, 2)
    cols = f"{position_column(services.log)}, originator_id, originator_version, topic, state"
    _sql(services, f"INSERT INTO {{t}} ({cols}) VALUES (?, ?, ?, ?, ?)",
         (gap, forged[0], 999, forged[2], bytes(forged[3])))
    result = verify(services.chain)
    assert (result.first.position, result.first.kind) == (gap, "inserted")
    # and the seal covering it no longer matches
    assert {f.kind for f in result.findings[1:]} <= {"seal"}


def test_a_rewritten_chain_is_caught_by_seals_kept_outside(services, tmp_path):
    """The attacker edits an event and recomputes the chain table (and the
    seals table); an export taken earlier, or the Kafka seals, still disagree."""
    _sealed(services)
    before = tmp_path / "before.jsonl"
    export(services.chain, before)
    state = _state(services, 8)
    state["description"] = "rewritten history"
    _sql(services, "UPDATE {t} SET state = ? WHERE {p} = ?", (json.dumps(state).encode(), 8))
    chain = services.chain
    services.db.execute(f"DELETE FROM {chain.chain}")
    services.db.execute(f"DELETE FROM {chain.seals}")
    Sealer(services.chain, services.settings, services.governance.clock).seal_now()
    assert verify(services.chain).ok  # the database agrees with itself...
    with open(before, encoding="utf-8") as f:
        result = verify(services.chain, seals_from_lines(f, "before"))
    assert (result.first.position, result.first.kind) == (8, "edited")  # ...not with the export
    # Seals alone (no event copies) bound the break between two seals.
    seals = [json.dumps({"position": p, "digest": d}) for p, d in
             [(3, _digest_in(before, 3)), (12, _digest_in(before, 12))]]
    result = verify(services.chain, seals_from_lines(seals, "seals"))
    assert [(f.position, f.kind) for f in result.findings] == [(12, "seal")]
    assert "after position 3" in result.findings[0].detail


def _digest_in(path, position: int) -> str:
    with open(path, encoding="utf-8") as f:
        for line in f:
            body = json.loads(line)
            if body["position"] == position:
                return body["digest"]
    raise KeyError(position)


def test_export_lines_are_canonical_and_chain_from_genesis(services, tmp_path):
    head = _sealed(services)
    out = tmp_path / "log.jsonl"
    count, digest = export(services.chain, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert count == len(lines) == head
    previous = GENESIS
    for line in lines:
        body = json.loads(line)
        assert line == json.dumps(body, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False)
        assert body["prev"] == previous
        assert body["digest"] == chain_digest(previous, canonical_bytes(body))
        previous = body["digest"]
    assert digest == previous == services.chain.head()[1]
    # A partial export continues from the chain's digest at --after.
    part = tmp_path / "part.jsonl"
    export(services.chain, part, after=5)
    first = json.loads(part.read_text(encoding="utf-8").splitlines()[0])
    assert first["position"] == 6 and first["prev"] == services.chain.digest_at(5)
    assert first["digest"] == json.loads(lines[5])["digest"]


def test_sealer_seals_every_n_events_and_on_time(services, clock):
    _write_log(services, compounds=2, whistles=4)  # 10 events
    sealer = Sealer(services.chain, services.settings, services.governance.clock,
                    every_events=3, every_seconds=3600)
    made = sealer.tick()
    assert [s.position for s in made] == [3, 6, 9]
    assert sealer.tick() == []  # one event left over, the hour is not up
    clock.advance(minutes=59, seconds=59)
    assert sealer.tick() == []  # 3599 s since the last seal
    clock.advance(seconds=1)
    assert [s.position for s in sealer.tick()] == [10]  # 3600 s: on time
    assert services.chain.last_seal().sealed_at == "2026-05-01T10:00:00.000000Z"
    assert sealer.tick() == []  # nothing new: no seal
    assert [s.position for s in services.chain.stored_seals()] == [3, 6, 9, 10]
    # A new Sealer (a restart) counts the events since the last seal.
    _write_log(services, compounds=1, whistles=1, first=50)
    assert Sealer(services.chain, services.settings, services.governance.clock,
                  every_events=2).tick()[0].position == 12


def test_sealer_runs_in_the_background(services):
    sealer = Sealer(services.chain, services.settings, services.governance.clock,
                    every_events=1, poll_seconds=0.01)
    sealer.start()
    try:
        head = _write_log(services, compounds=1, whistles=1)
        import time
        deadline = time.monotonic() + 10
        while services.chain.last_seal() is None or \
                services.chain.last_seal().position < head:
            assert time.monotonic() < deadline, "the sealer did not seal"
            time.sleep(0.02)
    finally:
        sealer.stop()


def test_time_travel_resolves_to_the_last_event_recorded_before(services, clock):
    _write_log(services, compounds=1, whistles=1)  # positions 1, 2 at 09:00:00
    middle = clock.advance(seconds=1)
    clock.advance(seconds=1)
    _write_log(services, compounds=1, whistles=2)  # HD-000 again: 3, 4 at 09:00:02
    assert cut_at(services.chain, middle.isoformat()).position == 2
    assert cut_at(services.chain, "2026-05-01T09:00:00Z").position == 2  # at or before
    assert cut_at(services.chain, "2026-05-01T09:00:02Z").position == 4
    assert cut_at(services.chain, "1").position == 1
    compound, cut = compound_as_of(services.chain, "HD-000", middle.isoformat())
    assert compound.version == 2 and cut.position == 2
    with pytest.raises(BadInput):
        cut_at(services.chain, "yesterday")
    assert cut_at(services.chain, "2000-01-01T00:00:00Z").position == 0


def test_the_time_of_record_is_what_the_chain_cuts_by(services, clock):
    """One clock: a whistle's `at`, its event's stamp and the chain's
    "recorded at" are one reading of the use cases' clock, and a time between
    two commands cuts between them."""
    gov, chain = services.governance, services.chain
    gov.register_compound(**story.compound("HD-001"))  # position 1 at 09:00
    clock.advance(minutes=5)
    body = story.whistle(["fire"])
    blown = gov.blow_whistle("HD-001", grid_worker="gw", **{**body, "unit": None})
    five_past = datetime(2026, 5, 1, 9, 5, tzinfo=timezone.utc)
    assert blown.position == 2 and blown.snapshot["blown_at"] == five_past
    [stored] = services.app.recorder.select_notifications(start=2, limit=1)
    event = services.app.mapper.to_domain_event(stored)
    assert event.at == event.timestamp == five_past
    chain.advance()
    assert chain.recorded_time(2) == "2026-05-01T09:05:00.000000Z"

    between = clock.advance(seconds=30)  # 09:05:30, nothing recorded
    clock.advance(seconds=30)
    reported = gov.report_in("HD-001", body["issue_id"], department="fire", officer="Li")
    assert reported.position == 3 and reported.snapshot["reports"]["fire"]["at"] == \
        datetime(2026, 5, 1, 9, 6, tzinfo=timezone.utc)
    assert cut_at(chain, between).position == 2
    assert cut_at(chain, "2026-05-01T09:04:59.999999Z").position == 1
    assert cut_at(chain, "2026-05-01T09:06:00Z").position == 3
    # A fact imported with its own `at` is still recorded at the clock's time.
    gov.note_progress("HD-001", body["issue_id"], department="fire", note="on site",
                      at=datetime(2026, 4, 1, tzinfo=timezone.utc))
    chain.advance()
    assert chain.recorded_time(4) == "2026-05-01T09:06:00.000000Z"


def test_each_command_stamps_its_own_reading_across_threads(services):
    """Commands running at once in six threads, their events committed
    together by the group committer: each event carries the reading of its
    own command, as `at` and as stamp, and one compound's stamps rise with
    its versions. A clock that ticks a microsecond per reading makes a reading
    that leaked to another thread's command show."""
    start = datetime(2026, 5, 1, 9, tzinfo=timezone.utc)
    ticks, lock = itertools.count(1), threading.Lock()

    def ticking() -> datetime:
        with lock:
            return start + timedelta(microseconds=next(ticks))
    gov = services.governance
    gov.clock = ticking
    codes = [f"HD-{i:03d}" for i in range(6)]
    for code in codes:
        gov.register_compound(**story.compound(code))

    def whistles(code: str) -> None:
        for _ in range(5):
            gov.blow_whistle(code, grid_worker="gw", **{**story.whistle(["fire"]), "unit": None})
    with ThreadPoolExecutor(len(codes)) as pool:
        list(pool.map(whistles, codes))
    events = [services.app.mapper.to_domain_event(n)
              for n in services.app.recorder.select_notifications(start=1, limit=100)]
    assert len(events) == 6 * (1 + 5)
    assert all(e.at == e.timestamp for e in events)
    assert len({e.timestamp for e in events}) == 36  # a reading per command, none shared
    for code in codes:
        mine = sorted((e for e in events if e.originator_id == compound_id(code)),
                      key=lambda e: e.originator_version)
        assert len(mine) == 6
        assert all(a.timestamp < b.timestamp for a, b in zip(mine, mine[1:]))


def test_the_worked_example_in_docs_audit_md():
    from pathlib import Path
    doc = (Path(__file__).resolve().parent.parent / "docs" / "audit.md").read_text("utf-8")
    one = record(1, "12345678-1234-5678-1234-567812345678", 1,
                 "domain.compound:Compound.Registered",
                 '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-05-01T09:00:00.000001'
                 '+00:00"},"code":"HD-001","name":"花园","households":480}'.encode())
    two = record(2, "12345678-1234-5678-1234-567812345678", 2,
                 "domain.compound:Compound.WhistleBlown", b'{"urgency":"urgent","score":18.0}')
    d1 = chain_digest(GENESIS, canonical_bytes(one))
    d2 = chain_digest(d1, canonical_bytes(two))
    for text in (canonical_bytes(one).decode(), d1, canonical_bytes(two).decode(), d2):
        assert text in doc


def test_undecodable_state_still_hashes():
    rec = record(1, "12345678-1234-5678-1234-567812345678", 1, "t", b"\xff not json")
    assert rec["state"] == {"_undecodable_hex_": "ff206e6f74206a736f6e"}
    assert len(chain_digest(GENESIS, canonical_bytes(rec))) == 64
