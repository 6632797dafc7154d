"""A busy compound is loaded from a snapshot plus the events after it."""
from __future__ import annotations

from domain.ids import compound_id
from tests import story


def test_snapshots_are_taken_every_fifty_events_and_load_the_same_state(services):
    gov = services.governance
    gov.register_compound(**story.compound())
    for _ in range(120):
        gov.blow_whistle("HD-001", grid_worker="W", unit=None, **story.whistle(["water"]))
    snapshots = list(services.app.snapshots.get(compound_id("HD-001")))
    assert [s.originator_version for s in snapshots] == [50, 100]
    from_snapshot = gov.compound("HD-001")
    services.app.repository.snapshot_store = None  # the same history from its first event
    from_events = gov.compound("HD-001")
    assert from_snapshot.version == from_events.version == 121
    assert from_snapshot.issues == from_events.issues
