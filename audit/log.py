"""The log as auditors read it: in order, one compound's stream, and a
compound as it stood at a cut. Each reads the log through its chain
(`Chain.log`), which gives every event its digest."""
from __future__ import annotations

from typing import Any

from adapters.eventstore import Log
from audit.chain import Chain, events_table, position_column
from audit.cuts import Cut, cut_at
from audit.hashing import record, record_of
from domain.ids import compound_id


def _with_digests(chain: Chain, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stored = chain.digests([r["position"] for r in records])
    return [dict(r, digest=stored.get(r["position"])) for r in records]


def log_page(chain: Chain, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """The global log in order, a page at a time. `digest` is the stored chain
    digest (null for events not chained yet)."""
    recorder = chain.log.app.recorder
    got = recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
    events = _with_digests(chain, [record_of(n) for n in got])
    return {"events": events, "after": after,
            "next_after": events[-1]["position"] if events else after,
            "head": recorder.max_notification_id() or 0}


def _compound_rows(log: Log, code: str, until: int | None = None) -> list[tuple]:
    oid = compound_id(code)
    pos = position_column(log)
    sql = (f"SELECT {pos}, originator_id, originator_version, topic, state "
           f"FROM {events_table(log)} WHERE originator_id = ?")
    params: list[Any] = [oid if log.db.is_postgres else oid.hex]
    if until is not None:
        sql += f" AND {pos} <= ?"
        params.append(until)
    return log.db.fetchall(sql + " ORDER BY originator_version", params)


def compound_events(chain: Chain, code: str) -> list[dict[str, Any]]:
    rows = _compound_rows(chain.log, code)
    if not rows:
        from domain.exceptions import UnknownFact
        raise UnknownFact(f"compound {code} is not registered")
    return _with_digests(chain, [record(*r) for r in rows])


def compound_as_of(chain: Chain, code: str, as_of: str) -> tuple[Any, Cut]:
    """The compound as it stood at a moment: loaded at the last version
    recorded at or before it."""
    from domain.exceptions import UnknownFact
    cut = cut_at(chain, as_of)
    rows = _compound_rows(chain.log, code, until=cut.position)
    if not rows:
        raise UnknownFact(f"compound {code} was not registered as of {as_of}")
    version = max(int(r[2]) for r in rows)
    return chain.log.app.repository.get(compound_id(code), version=version), cut
