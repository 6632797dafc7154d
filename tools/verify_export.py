#!/usr/bin/env python3
"""Verifies a Red Whistle audit export on its own: Python 3 standard library
only, no project imports. docs/audit.md defines the format and the hashing.

    python3 verify_export.py EXPORT.jsonl [--seals FILE.jsonl ...] [--start DIGEST]

Checks, line by line:
  1. positions strictly increase;
  2. each line's "prev" is the previous line's "digest" (the first line's is
     the genesis digest, 64 zeros, or --start for an export made with --after);
  3. each line's "digest" is SHA-256(prev as 64 ASCII hex characters +
     canonical bytes of {position, originator_id, originator_version, topic,
     state}), canonical bytes being the UTF-8 of that JSON object with keys
     sorted at every level and no whitespace.
And for every seal (a JSON line with "position" and "digest": a seals dump,
a copy of the Kafka topic, or an earlier export) within the export's range:
  4. the export has an event at that position, with that digest.

Prints "ok: ..." and exits 0, or "BROKEN at position P: ..." and exits 1;
bad usage exits 2.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys

GENESIS = "0" * 64
FIELDS = ("position", "originator_id", "originator_version", "topic", "state")


def canonical_bytes(event: dict) -> bytes:
    return json.dumps({k: event[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def chain_digest(previous: str, canonical: bytes) -> str:
    return hashlib.sha256(previous.encode("ascii") + canonical).hexdigest()


def read_lines(path: str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                body = json.loads(line)
                int(body["position"]), str(body["digest"])
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{path} line {number}: not an exported event or a seal") \
                    from None
            out.append(body)
    return out


def verify(events: list[dict], seals: list[dict], start: str | None) -> list[tuple[int, str]]:
    """Returns the breaks found, as (position, reason), in position order."""
    breaks: list[tuple[int, str]] = []
    previous_digest, previous_position = start, 0
    digests: dict[int, str] = {}
    for i, event in enumerate(events):
        position = int(event["position"])
        if position <= previous_position:
            breaks.append((position, f"position does not increase (after {previous_position})"))
        prev = event.get("prev")
        if i == 0 and previous_digest is None:
            previous_digest = prev if prev is not None else GENESIS
        if prev is not None and prev != previous_digest:
            breaks.append((position, "its prev is not the previous line's digest: a line "
                                     "before it was removed, added or changed"))
        try:
            recomputed = chain_digest(prev if prev is not None else previous_digest,
                                      canonical_bytes(event))
        except (KeyError, ValueError):
            breaks.append((position, "not an event line"))
            recomputed = None
        if recomputed != event["digest"]:
            breaks.append((position, "the event does not hash to its digest: edited"))
        digests[position] = event["digest"]
        previous_digest, previous_position = event["digest"], position
    if events:
        low, high = int(events[0]["position"]), int(events[-1]["position"])
        for seal in seals:
            position = int(seal["position"])
            if not low <= position <= high:
                continue
            if position not in digests:
                breaks.append((position, "sealed, but missing from the export: deleted"))
            elif digests[position] != seal["digest"]:
                breaks.append((position, "the digest differs from the seal's: an event at or "
                                         "before this position is not the one sealed"))
    return sorted(breaks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Red Whistle audit export.")
    parser.add_argument("export")
    parser.add_argument("--seals", action="append", default=[],
                        help="seals or an earlier export to compare with (repeatable)")
    parser.add_argument("--start", help="digest before the first line (an export made "
                                        "with --after); default: the first line's prev")
    args = parser.parse_args(argv)
    if args.start is not None and (len(args.start) != 64 or
                                   any(c not in "0123456789abcdef" for c in args.start)):
        parser.error("--start must be 64 lowercase hex characters")
    try:
        events = read_lines(args.export)
        seals = [s for path in args.seals for s in read_lines(path)]
    except (OSError, ValueError) as exc:
        print(f"verify_export: {exc}", file=sys.stderr)
        return 2
    breaks = verify(events, seals, args.start)
    if events and events[0].get("prev", GENESIS) != GENESIS and args.start is None:
        note = f" (a partial export, starting after digest {events[0]['prev']})"
    else:
        note = ""
    if not breaks:
        last = events[-1] if events else {"position": 0, "digest": args.start or GENESIS}
        print(f"ok: {len(events)} events, last position {last['position']}, digest "
              f"{last['digest']}; {len(seals)} seals compared{note}")
        return 0
    position, reason = breaks[0]
    print(f"BROKEN at position {position}: {reason}")
    for p, r in breaks[1:20]:
        print(f"  position {p}: {r}")
    if len(breaks) > 20:
        print(f"  ... and {len(breaks) - 20} more")
    return 1


if __name__ == "__main__":
    sys.exit(main())
