"""Verification: the chain recomputed over the log and compared with the
stored chain, the stored seals and seals from outside (a file, Kafka)."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from audit.chain import Chain, Seal, read_raw
from audit.cuts import BadInput
from audit.hashing import GENESIS, canonical_bytes, chain_digest, record_of
from audit.replay import Progress


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


def verify(chain: Chain, seals: Iterable[SealLine] | None = None,
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
    out = Verification(head=chain.log.app.recorder.max_notification_id() or 0)
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
    for batch in read_raw(chain.log):
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

