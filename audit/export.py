"""The log exported as JSON lines with its digests (docs/audit.md), and seals
written to a file."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from audit.chain import Chain, Seal, read_raw
from audit.hashing import GENESIS, canonical_bytes, canonical_json, chain_digest, record_of
from audit.replay import Progress


def export(chain: Chain, out_path: Path, after: int = 0,
           progress: Progress | None = None) -> tuple[int, str]:
    """Writes the log after `after` as JSON lines (docs/audit.md): one event a
    line with its chain digest, recomputed from the log as it is now, starting
    from the stored chain digest at `after`. Returns (events, last digest)."""
    if after:
        chain.advance(until=after)  # the chain must reach `after` to start from it
    digest = chain.digest_at(after) if after else GENESIS
    count = 0
    tmp = out_path.with_name(out_path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for batch in read_raw(chain.log, after):
            for n in batch:
                rec = record_of(n)
                previous, digest = digest, chain_digest(digest, canonical_bytes(rec))
                f.write(canonical_json(dict(rec, digest=digest, prev=previous)) + "\n")
                count += 1
            if progress and batch:
                progress("export", rec["position"])
    tmp.replace(out_path)
    return count, digest


def write_seals(seals: Iterable[Seal], out_path: Path) -> int:
    count = 0
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for s in seals:
            f.write(canonical_json(s.as_json()) + "\n")
            count += 1
    return count
