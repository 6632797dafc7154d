"""Writers racing on one compound: optimistic concurrency with bounded retries
loses nothing and duplicates nothing, on SQLite and PostgreSQL."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from service_layer.bootstrap import Services
from tests import story


def test_concurrent_whistles_and_retries_on_one_compound(services: Services):
    gov = services.governance
    gov.register_compound(**story.compound())
    bodies = [story.whistle(["fire"]) for _ in range(24)]
    for b in bodies:
        b.pop("grid")
    # every whistle is sent twice at once, as a phone that retried would
    work = bodies + bodies

    def blow(body):
        return gov.blow_whistle("HD-001", grid_worker="Wang", grid="G1", unit=None, **body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(blow, work))

    assert sum(o.created for o in outcomes) == len(bodies)
    compound = gov.compound("HD-001")
    assert sorted(compound.issues) == sorted(b["issue_id"] for b in bodies)
    assert compound.version == 1 + len(bodies)
    events = services.app.recorder.select_notifications(start=1, limit=1000)
    whistles = [n for n in events if n.topic.endswith("WhistleBlown")]
    assert len(whistles) == len(bodies)


def test_concurrent_registration_of_the_same_compound_is_one_event(services: Services):
    gov = services.governance
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda _: gov.register_compound(**story.compound("HD-9")),
                                 range(6)))
    assert sum(o.created for o in outcomes) == 1
    assert len(services.app.recorder.select_notifications(start=1, limit=100)) == 1
    assert {o.snapshot["code"] for o in outcomes} == {"HD-9"}
    assert services.governance.compound("HD-9").version == 1


def test_two_processes_racing_meet_optimistic_concurrency(services: Services, settings, clock):
    """Two service instances on one database stand for two API processes: their
    in-process queues do not see each other, so the store's version check and
    the bounded retry are what keep every event."""
    from service_layer.bootstrap import bootstrap
    other = bootstrap(settings, clock=clock)
    try:
        services.governance.register_compound(**story.compound())
        bodies = [dict(story.whistle(["police"]), unit=None) for _ in range(30)]
        govs = [services.governance, other.governance]
        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(
                lambda ib: govs[ib[0] % 2].blow_whistle("HD-001", grid_worker="W", **ib[1]),
                enumerate(bodies)))
        assert all(o.created for o in outcomes)
        assert other.governance.compound("HD-001").version == 1 + len(bodies)
    finally:
        other.close()
