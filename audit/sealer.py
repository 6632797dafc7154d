"""The worker that follows the log with the chain and seals it."""
from __future__ import annotations

from adapters.background import Background
from adapters.clock import Clock
from adapters.settings import Settings
from audit.chain import Chain, Seal
from audit.kafka_seals import SealPublisher


class Sealer(Background):
    """Follows the log with the chain and seals it: a seal as soon as
    `every_events` events have been chained since the last one, and at least
    every `every_seconds` while new events arrive. Runs beside `serve` with
    start()/stop(); tick() does one round synchronously (tests, CLI).

    `clock` is the use cases' clock (bootstrap's one clock): it dates the
    seals and times `every_seconds`, so a test steps it instead of sleeping."""

    name = "audit-sealer"

    def __init__(self, chain: Chain, settings: Settings, clock: Clock,
                 every_events: int = 1000, every_seconds: float = 60.0,
                 poll_seconds: float = 0.5, publish: bool | None = None) -> None:
        if every_events < 1 or every_seconds <= 0:
            raise ValueError("every_events must be >= 1 and every_seconds > 0")
        super().__init__(poll_seconds)
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.clock = clock
        self.chain = chain
        publish = bool(settings.kafka_bootstrap_servers) if publish is None else publish
        self.publisher = SealPublisher(settings) if publish else None
        last = self.chain.last_seal()
        self._since = self.chain.count_after(last.position if last else 0)
        self._last_time = clock()

    def _due(self) -> bool:
        if self._since >= self.every_events:
            return True
        if self._since == 0:
            return False
        elapsed = (self.clock() - self._last_time).total_seconds()
        return not 0 <= elapsed < self.every_seconds  # a clock set back seals, not waits

    def tick(self) -> list[Seal]:
        made: list[Seal] = []
        while True:
            step = self.chain.advance(max_events=self.every_events - self._since)
            self._since += step.count
            due = self._due()
            if due:
                seal = self.chain.seal(self.clock())
                if seal:
                    made.append(seal)
                self._since = 0
                self._last_time = self.clock()
            if step.count == 0 or not due:
                break
        if self.publisher:
            pending = self.chain.stored_seals(unpublished=True)
            self.chain.mark_published(self.publisher.publish(pending))
        return made

    def seal_now(self) -> Seal | None:
        """Chains to the end of the log and seals its head (if not sealed yet)."""
        self.chain.advance()
        seal = self.chain.seal(self.clock())
        self._since, self._last_time = 0, self.clock()
        if self.publisher:
            pending = self.chain.stored_seals(unpublished=True)
            self.chain.mark_published(self.publisher.publish(pending))
        return seal

    def close(self) -> None:
        if self.publisher:
            self.publisher.close()


def chain_health(chain: Chain) -> dict:
    """For GET /v1/health: how far the chain reaches and the last seal."""
    last = chain.last_seal()
    return {"chained": chain.head()[0], "last_seal": last.as_json() if last else None}
