"""The compounds a process keeps in memory after writing them
(service_layer/store/write_cache.py): never staler than the store, never holding
a fact the store refused, and a write's answer fixed when it was written."""
from __future__ import annotations

import pytest

from domain.exceptions import RuleBroken
from domain.ids import compound_id
from service_layer.bootstrap import bootstrap
from tests import story


def _whistle(gov):
    """A whistle; its outcome's snapshot is the issue it opened."""
    body = dict(story.whistle(["fire"]), unit=None)
    return gov.blow_whistle("HD-001", grid_worker="Wang", **body)


def _stored(services):
    return services.governance.compound("HD-001")  # loaded from the store, not the cache


def test_a_cached_compound_catches_up_with_another_process(services, settings, clock):
    other = bootstrap(settings, clock=clock)
    try:
        ours, theirs = services.governance, other.governance
        ours.register_compound(**story.compound())
        first = _whistle(ours)  # now cached here
        second = _whistle(theirs)  # written behind our cache's back
        third = _whistle(ours)  # refused by the store's version check, then replayed
        assert third.created and third.snapshot["version"] == 4
        blown = {o.snapshot["issue_id"] for o in (first, second, third)}
        assert len(blown) == 3
        stored = _stored(services)
        assert stored.version == 4 and set(stored.issues) == blown
    finally:
        other.close()


def test_a_refusal_or_a_repeat_is_never_decided_on_a_stale_cache(services, settings, clock):
    other = bootstrap(settings, clock=clock)
    try:
        ours, theirs = services.governance, other.governance
        ours.register_compound(**story.compound())
        _whistle(ours)  # cached here at version 2
        body = dict(story.whistle(["fire"]), unit=None)
        theirs.blow_whistle("HD-001", grid_worker="Wang", **body)
        # Our memory has never heard of that issue; the store has.
        reported = ours.report_in("HD-001", body["issue_id"], department="fire", officer="Li")
        assert reported.created and reported.snapshot["version"] == 4
        theirs.report_in("HD-001", body["issue_id"], department="fire", officer="Li")  # repeat
        retried = theirs.blow_whistle("HD-001", grid_worker="Wang", **body)  # a phone's retry
        assert not retried.created
        again = ours.blow_whistle("HD-001", grid_worker="Wang", **body)
        assert not again.created and again.snapshot["version"] == 4
        assert _stored(services).version == 4
    finally:
        other.close()


def test_a_refused_command_leaves_no_trace_in_the_cache(services):
    gov = services.governance
    gov.register_compound(**story.compound())
    issue_id = _whistle(gov).snapshot["issue_id"]
    with pytest.raises(RuleBroken):
        gov.report_in("HD-001", issue_id, department="police", officer="Li")  # not summoned
    with pytest.raises(RuleBroken):
        gov.rate("HD-001", issue_id, rating="satisfied", comment=None, rated_by="W")  # unresolved
    done = gov.report_in("HD-001", issue_id, department="fire", officer="Li")
    assert done.created and done.snapshot["version"] == 3
    assert _stored(services).version == 3


def test_a_write_that_fails_to_store_is_forgotten(services, monkeypatch):
    gov = services.governance
    gov.register_compound(**story.compound())
    _whistle(gov)

    def refuse(*aggregates):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(gov.store, "save", refuse)
    with pytest.raises(RuntimeError):
        _whistle(gov)
    monkeypatch.undo()
    after = _whistle(gov)
    # Had the cache kept the refused whistle, this would be version 4 and the
    # store would hold a gap.
    assert after.snapshot["version"] == 3
    stored = _stored(services)
    assert stored.version == 3 and len(stored.issues) == 2


def test_the_answer_is_what_was_written_not_what_came_after(services):
    gov = services.governance
    gov.register_compound(**story.compound())
    body = dict(story.whistle(["fire"]), unit=None)
    issue_id = body["issue_id"]
    blown = gov.blow_whistle("HD-001", grid_worker="Wang", **body)
    gov.report_in("HD-001", issue_id, department="fire", officer="Li")
    # The later report-in did not leak into the answer...
    assert blown.snapshot["version"] == 2 and blown.snapshot["reports"] == {}
    # ...while the shared state moved on.
    assert gov.store.load(compound_id("HD-001"), check=False)[0].issue(issue_id)["reports"]
