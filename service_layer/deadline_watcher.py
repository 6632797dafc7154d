"""Escalates what has missed its deadline, once (街道吹哨 → 区级吹哨).

A summons not reported in by its deadline, or an issue not resolved by its
deadline, is escalated by recording `IssueEscalated` through the ordinary use
case. The watcher keeps no state of its own: candidates come from the
dashboard's `watch_due` (per summons, the earliest deadline still unmet whose
escalation the view has not seen recorded; a partial index holds only those),
and the compound itself decides. `Compound.escalate` records each escalation key once, and
optimistic concurrency makes a racing second watcher re-run the command on the
new version and find nothing left to do. So restarts, a stale view or two
watchers at once never record an escalation twice.
"""
from __future__ import annotations

import logging

from projections.dashboard.calendar import to_us
from projections.dashboard.query import due
from adapters.background import Background
from adapters.eventstore import Log
from service_layer.governance import Governance

logger = logging.getLogger("redwhistle.deadlines")


class DeadlineWatcher(Background):
    name = "deadline-watcher"

    def __init__(self, log: Log, governance: Governance, interval: float = 30.0,
                 prefix: str = "") -> None:
        super().__init__(interval)
        self.log = log
        self.governance = governance
        self.prefix = prefix

    def candidates(self) -> list[tuple[str, str]]:
        """(compound, issue) pairs with a deadline passed and its escalation
        not yet seen in the view."""
        return due(self.log.db, self.prefix, to_us(self.governance.clock()))

    def tick(self) -> int:
        """One pass; returns how many issues had escalations recorded."""
        escalated = 0
        for code, issue_id in self.candidates():
            try:
                if self.governance.escalate_due(code, issue_id).created:
                    escalated += 1
            except Exception:  # noqa: BLE001 - one bad issue must not stop the others
                logger.exception("escalating issue %s of compound %s failed", issue_id, code)
        return escalated
