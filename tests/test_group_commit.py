"""Group commit: concurrent writes share transactions, and each caller still
gets its own position or its own error. On SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from eventsourcing.persistence import IntegrityError

from domain.ids import compound_id
from service_layer.bootstrap import Services, bootstrap
from service_layer.governance import Governance
from service_layer.store.group_commit import GroupCommitter
from adapters.settings import Settings
from tests import story


def _whistle(departments=("fire",)):
    return dict(story.whistle(list(departments)), unit=None)


class Gate:
    """Holds the committer's first transaction until `count` more requests
    wait behind it (or, with `total`, until the first transaction and the
    queue hold `total` requests), so the test knows how the batches fall."""

    def __init__(self, committer: GroupCommitter, count: int = 0, total: int = 0) -> None:
        self.committer = committer
        self.count = count
        self.total = total
        self.put = committer._put
        self.calls: list[int] = []
        committer._put = self._put  # type: ignore[method-assign]

    def _put(self, events, **kw):
        if not self.calls:
            deadline = time.monotonic() + 10
            def waiting():
                queued = len(self.committer._queue)
                if self.total:
                    return queued + len(events) < self.total
                return queued < self.count
            while waiting() and time.monotonic() < deadline:
                time.sleep(0.005)
        self.calls.append(len(events))
        return self.put(events, **kw)


def _events(services: Services, topic: str = "") -> list:
    found, after = [], 0
    while True:
        batch = services.app.recorder.select_notifications(start=after, limit=1000,
                                                           inclusive_of_start=False)
        found += [n for n in batch if n.topic.endswith(topic)]
        if len(batch) < 1000:
            return found
        after = batch[-1].id


def test_group_commit_is_on_unless_switched_off(services: Services, monkeypatch):
    assert isinstance(services.governance.store.committer, GroupCommitter)
    monkeypatch.setenv("GROUP_COMMIT", "0")
    assert not Settings.from_env().group_commit
    gov = Governance(services.app, replace(services.settings, group_commit=False))
    assert gov.store.committer is None
    monkeypatch.setenv("GROUP_COMMIT", "1")
    assert Settings.from_env().group_commit
    assert Governance(services.app, services.settings).store.committer is not None


def test_many_threads_on_many_and_on_the_same_compounds(services: Services):
    gov = services.governance
    codes = [f"GC-{i:02d}" for i in range(8)]
    for code in codes:
        gov.register_compound(**story.compound(code))
    # 8 compounds, a hot one taking a third of the load, each whistle sent
    # twice as a retrying phone would
    bodies = [(codes[0] if i % 3 == 0 else codes[i % 8], _whistle()) for i in range(90)]
    work = bodies + bodies[::3]

    def blow(item):
        code, body = item
        return code, body["issue_id"], gov.blow_whistle(code, grid_worker="W", **body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(blow, work))

    created = [r for r in results if r[2].created]
    assert len(created) == len(bodies)  # a retry is a repeat, never a second event
    for code in codes:
        compound = gov.compound(code)
        mine = sorted(b["issue_id"] for c, b in bodies if c == code)
        assert sorted(compound.issues) == mine
        assert compound.version == 1 + len(mine)
    whistles = _events(services, "WhistleBlown")
    assert len(whistles) == len(bodies)
    by_position = {n.id: n for n in whistles}
    for code, issue_id, outcome in created:
        # each caller's position is its own event's place in the log
        n = by_position[outcome.position]
        assert n.originator_id == compound_id(code)
        assert issue_id.encode() in n.state
    committer = gov.store.committer
    assert committer.requests >= len(bodies)


def test_a_batch_commits_many_requests_in_one_transaction(services: Services):
    gov = services.governance
    codes = [f"B-{i}" for i in range(12)]
    for code in codes:
        gov.register_compound(**story.compound(code))
    gate = Gate(gov.store.committer, total=len(codes))
    with ThreadPoolExecutor(max_workers=len(codes)) as pool:
        outcomes = list(pool.map(lambda c: gov.blow_whistle(c, grid_worker="W", **_whistle()),
                                 codes))
    assert all(o.created for o in outcomes)
    # whoever came first, then every other request in one transaction
    assert len(gate.calls) == 2 and sum(gate.calls) == len(codes)
    assert len({o.position for o in outcomes}) == len(codes)
    assert gov.store.committer.largest_batch == max(gate.calls)


def test_only_the_loser_of_a_batch_gets_the_integrity_error(services: Services, settings,
                                                            clock):
    gov = services.governance
    for code in ("W-1", "W-2", "W-3", "L-1"):
        gov.register_compound(**story.compound(code))
    committer = gov.store.committer
    stale = gov.compound("L-1")
    # another process writes L-1 first
    other = bootstrap(settings, clock=clock)
    try:
        other.governance.blow_whistle("L-1", grid_worker="W", **_whistle())
    finally:
        other.close()
    stale.blow_whistle(**_whistle(), grid_worker="W",
                       policy=settings.deadlines, at=clock())
    winners = [gov.compound(code) for code in ("W-1", "W-2", "W-3")]
    for w in winners:
        w.blow_whistle(**_whistle(), grid_worker="W", policy=settings.deadlines, at=clock())
    gate = Gate(committer, count=3)
    results: dict[str, object] = {}

    def save(name, aggregate):
        try:
            results[name] = committer.save(aggregate)
        except Exception as exc:  # noqa: BLE001
            results[name] = exc

    threads = [threading.Thread(target=save, args=(n, a))
               for n, a in (("w1", winners[0]), ("w2", winners[1]), ("loser", stale),
                            ("w3", winners[2]))]
    # w1 is committed alone, held by the gate until the others queue behind
    # it; they then share a batch, which fails; the store names the loser and
    # w2 and w3 are written again together
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(10)
    assert gate.calls == [1, 3, 2]
    assert isinstance(results["loser"], IntegrityError)
    assert all(isinstance(results[w], int) for w in ("w1", "w2", "w3"))
    assert committer.fallbacks == 1
    assert [gov.compound(c).version for c in ("W-1", "W-2", "W-3")] == [2, 2, 2]
    assert gov.compound("L-1").version == 2  # only the other process's whistle


def test_the_loser_is_replayed_by_the_use_case(services: Services, settings, clock):
    """Two processes on one database: each has its own committer, and the
    version check plus the use case's retry keep every whistle. A request
    that kept losing gets its own TooMuchContention (503), never a lost or
    doubled event, and goes through when sent again."""
    from service_layer.governance import TooMuchContention
    other = bootstrap(settings, clock=clock)
    try:
        services.governance.register_compound(**story.compound())
        bodies = [_whistle(["police"]) for _ in range(40)]
        govs = [services.governance, other.governance]

        def blow(ib):
            try:
                return govs[ib[0] % 2].blow_whistle("HD-001", grid_worker="W", **ib[1])
            except TooMuchContention:
                return None

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(blow, enumerate(bodies)))
        assert all(o is None or o.created for o in outcomes)
        for body, outcome in zip(bodies, outcomes):
            if outcome is None:  # the client retries
                assert services.governance.blow_whistle("HD-001", grid_worker="W",
                                                        **body).created
        assert other.governance.compound("HD-001").version == 1 + len(bodies)
        assert len(_events(services, "WhistleBlown")) == len(bodies)
    finally:
        other.close()


def test_durable_when_the_caller_returns_and_snapshots_kept(services: Services, settings,
                                                            clock):
    gov = services.governance
    gov.register_compound(**story.compound())
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: gov.blow_whistle("HD-001", grid_worker="W", **_whistle()),
                      range(119)))
    # a second process sees every event the callers were told about
    other = bootstrap(settings, clock=clock)
    try:
        loaded = other.governance.compound("HD-001")
        assert loaded.version == 120
        snapshots = list(other.app.snapshots.get(compound_id("HD-001")))
        assert [s.originator_version for s in snapshots] == [50, 100]
        # the state rebuilt from the snapshot equals the state from events alone
        events = list(other.app.events.get(compound_id("HD-001")))
        replayed = None
        for e in events:
            replayed = e.mutate(replayed)
        assert replayed.issues == loaded.issues and replayed.version == loaded.version
    finally:
        other.close()


def test_committer_thread_ends_when_idle(services: Services):
    committer = GroupCommitter(services.app, idle_seconds=0.05)
    gov = services.governance
    gov.register_compound(**story.compound())
    compound = gov.compound("HD-001")
    compound.blow_whistle(**_whistle(), grid_worker="W", policy=services.settings.deadlines,
                          at=compound.registered_at)
    assert committer.save(compound) is not None
    time.sleep(0.3)
    assert committer._thread is None
    assert not [t for t in threading.enumerate() if t.name == "group-commit"
                and getattr(t, "_target", None) == committer._run]


def test_a_bad_request_does_not_sink_its_batch(services: Services):
    """An error of one request's own (here an event the store cannot encode)
    reaches that caller only; the others of its batch are written."""
    gov = services.governance
    codes = ["E-1", "E-2", "E-3"]
    for code in codes:
        gov.register_compound(**story.compound(code))
    good = [gov.compound(c) for c in codes[:2]]
    for g in good:
        g.blow_whistle(**_whistle(), grid_worker="W", policy=services.settings.deadlines,
                       at=g.registered_at)
    bad = gov.compound("E-3")
    bad.blow_whistle(**dict(_whistle(), description="x"), grid_worker="W",
                     policy=services.settings.deadlines, at=bad.registered_at)
    bad.pending_events[-1].__dict__["description"] = object()  # not transcodable
    gate = Gate(gov.store.committer, count=2)
    results: dict[str, object] = {}

    def save(name, aggregate):
        try:
            results[name] = gov.store.committer.save(aggregate)
        except Exception as exc:  # noqa: BLE001
            results[name] = exc

    threads = [threading.Thread(target=save, args=(n, a))
               for n, a in (("g1", good[0]), ("g2", good[1]), ("bad", bad))]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(10)
    assert isinstance(results["g1"], int) and isinstance(results["g2"], int)
    assert isinstance(results["bad"], Exception) and not isinstance(results["bad"],
                                                                     IntegrityError)
    assert gate.calls  # the gate saw the batch
    assert gov.compound("E-3").version == 1


@pytest.mark.parametrize("switch", ["0", "1"])
def test_same_story_with_and_without_group_commit(services: Services, monkeypatch, switch):
    monkeypatch.setenv("GROUP_COMMIT", switch)
    settings = replace(services.settings, group_commit=Settings.from_env().group_commit)
    gov = Governance(services.app, settings, services.governance.clock)
    gov.register_compound(**story.compound(f"S-{switch}"))
    body = _whistle()
    first = gov.blow_whistle(f"S-{switch}", grid_worker="W", **body)
    again = gov.blow_whistle(f"S-{switch}", grid_worker="W", **body)
    assert first.created and not again.created and again.position is None
    assert first.position == services.app.recorder.max_notification_id()
