"""Histograms of minutes to report packed into one number each, so that
adding two numbers adds two histograms.

A histogram over k slots with counts c₀ … cₖ₋₁ is the integer Σ cᵢ·2^(F·i):
each count a field of F bits. Adding two such integers adds the histograms
field by field, with no carry while every count stays below 2^(F−1), so the
sum over the rows of many periods is the histogram of their union.
Multiplying it by 1 + 2^F + … + 2^(F·(k−1)) turns each field into the
running total up to it (the low k fields of the product); the top bit of
every field stays clear, so subtracting a rank from all the fields at once
borrows within each field only, and the fields still holding their top bit
are those at or above the rank: the slot holding a rank is a popcount away,
a handful of operations on one Python int whatever k is.

F is whole bytes and depends on the dimension (`WIDTH`): every count of a
key over a range, the number of its reported summonses included, must stay
below 2^BITS (BITS = F − 1); the query checks that against the rollups'
`reported` and refuses rather than give a wrong figure.

Minutes are cut in two levels, 32 slots per doubling below an exact start:
a *group* (0 for minutes 0–63, then g for [2^(g+5), 2^(g+6))) and, within
it, a slot (the minute itself in group 0, else one of 32 of width 2^g, named
by its first minute, `bucket`). A row of the table holds per (period, key)
the group counts and the slot counts of every group that has any, as bytes
(`encode`): the numbers' own little-endian bytes, which Python reads back
with one `int.from_bytes` and adds itself. (Kept as NUMERIC, summed by
PostgreSQL, converting the sums to text and back cost more than the rest of
a percentile.)
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from projections.dashboard.calendar import day_start_us, month_day, xun_id
from projections.dashboard.running import RUNNING
from projections.bulk import insert_rows, upsert
from adapters.db import Cursor, Database

# Bytes per count. Narrower fields make the rows of the many small keys
# smaller, and reading them is much of a query by compound.
WIDTH = {"department": 4, "street": 4, "community": 4, "compound": 3}
# A key's counts over a range stay below 2^BITS: each field's top bit is a guard.
BITS = {dim: 8 * w - 1 for dim, w in WIDTH.items()}
SLOTS = 32                  # slots per doubling
EXACT = 2 * SLOTS           # minutes below this are their own slot (group 0)
GROUPS = 26                 # groups 0..25 hold every minute below 2^31


def field(dim: str) -> int:
    """Bits per packed count of a dimension: BITS and a guard bit above."""
    return 8 * WIDTH[dim]


def group(minute: int) -> int:
    return max(0, minute.bit_length() - EXACT.bit_length() + 1)


def width(g: int) -> int:
    """Slots in group g."""
    return EXACT if g == 0 else SLOTS


def slot(minute: int) -> int:
    g = group(minute)
    return minute if g == 0 else (minute >> g) - SLOTS


def bucket(minute: int) -> int:
    """The first minute of the minute's slot."""
    g = group(minute)
    return (minute >> g) << g


def slot_start(g: int, i: int) -> int:
    return i if g == 0 else (i + SLOTS) << g


@lru_cache(maxsize=1 << 16)  # a rebuild asks for the same few thousand minutes again and again
def one(minute: int, f: int) -> tuple[int, int, int]:
    """(group, the packed group counts of this one value, its packed slot
    counts within the group) with f bits per count."""
    g = group(minute)
    if g >= GROUPS:
        raise ValueError(f"{minute} minutes to report is beyond the histogram")
    return g, 1 << (f * g), 1 << (f * slot(minute))


def pack(counts: dict[int, int], f: int) -> tuple[int, dict[int, int]]:
    """minute -> count (signed: deltas pack as well) as (groups, {g: slots})."""
    groups, slots = 0, {}
    for minute, n in counts.items():
        g, up_group, up_slot = one(minute, f)
        groups += n * up_group
        slots[g] = slots.get(g, 0) + n * up_slot
    return groups, slots


class Layout:
    """k counts packed f bits each: the masks that make running totals of
    them and find the slot holding a rank."""

    def __init__(self, k: int, f: int) -> None:
        ones = sum(1 << (f * i) for i in range(k))  # 1 in every field
        self.k, self.f, self.ones = k, f, ones
        self.every = (1 << (f * k)) - 1        # every field's bits
        self.guards = ones << (f - 1)          # every field's top bit
        self.count = (1 << (f - 1)) - 1        # a field's bits below its guard

    def running(self, packed: int) -> int:
        """The running totals, packed the same way: field i counts the values
        in slots 0..i, the last field all of them."""
        return packed * self.ones & self.every

    def size(self, totals: int) -> int:
        """The number of values: the last of the running totals."""
        return totals >> (self.f * (self.k - 1))

    def locate(self, totals: int, ranks: list[int]) -> list[tuple[int, int]]:
        """For each rank (1-based, at most the total): the slot holding it and
        its rank within the slot, from `running` totals."""
        k, f, ones, count = self.k, self.f, self.ones, self.count
        guarded, out = totals | self.guards, []
        for rank in ranks:
            # Fields below the rank lose their guard bit to the subtraction.
            i = k - (guarded - rank * ones & self.guards).bit_count()
            out.append((i, rank - (totals >> (f * (i - 1)) & count) if i else rank))
        return out


@lru_cache(maxsize=None)
def layout(k: int, f: int) -> Layout:
    return Layout(k, f)


# -- the table: per (dim, grain, period, key) the packed group counts and the
# packed slot counts of the groups that have any --------------------------------
PERIOD = ("dim", "grain", "period", "key")
PERIOD_SQL = "dim TEXT NOT NULL, grain TEXT NOT NULL, period INTEGER NOT NULL, key TEXT NOT NULL"
COLUMNS = ("groups", "slots")
Packed = tuple[int, dict[int, int]]  # (groups, {g: slots}) as `pack` returns


def create(db: Database, cur: Cursor, table: str) -> None:
    kind = "BYTEA" if db.is_postgres else "BLOB"
    cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({PERIOD_SQL}, groups {kind} NOT NULL, "
                f"slots {kind} NOT NULL, PRIMARY KEY ({', '.join(PERIOD)}))"
                + ("" if db.is_postgres else " WITHOUT ROWID"))


def encode(packed: Packed, f: int) -> tuple[bytes, bytes]:
    """(groups, slots) as stored: the group counts' bytes, and a 4-byte mask of
    the groups with any count followed by each such group's slot counts,
    width(g) fields each, in the order of the groups. One value, one
    spelling: a zero group is left out, so rows kept by deltas and rows
    derived from `summonses` are the same bytes."""
    groups, slots = packed
    w, mask, parts = f // 8, 0, []
    for g in (slots if len(slots) == 1 else sorted(slots)):
        v = slots[g]
        if v:
            mask |= 1 << g
            parts.append(v.to_bytes((EXACT if g == 0 else SLOTS) * w, "little"))
    return (groups.to_bytes(GROUPS * w, "little").rstrip(b"\0"),
            mask.to_bytes(4, "little") + b"".join(parts))


def mask_of(stored: bytes) -> int:
    """The groups a stored `slots` value holds, one bit each."""
    return int.from_bytes(stored[:4], "little")


def slots_of(stored: bytes, mask: int, g: int, f: int) -> int:
    """Group g's packed slot counts in a stored `slots` value whose `mask_of`
    is `mask` (0 if it has none)."""
    if not mask >> g & 1:
        return 0
    below = mask & ((1 << g) - 1)  # group 0 is two groups wide (EXACT = 2 · SLOTS)
    start = 4 + f // 8 * SLOTS * (below.bit_count() + (below & 1))
    return int.from_bytes(stored[start:start + f // 8 * width(g)], "little")


def decode(groups: bytes, slots: bytes, f: int) -> Packed:
    mask = mask_of(slots)
    return (int.from_bytes(groups, "little"),
            {g: slots_of(slots, mask, g, f) for g in range(GROUPS) if mask >> g & 1})


def add(db: Database, cur: Cursor, table: str, deltas: dict[tuple, Packed]) -> None:
    """Adds packed histograms to the rows of their (dim, grain, period, key).
    The stored rows are read, added to in Python and written back: one
    follower writes a view at a time."""
    deltas = {k: v for k, v in deltas.items() if v[0] or any(v[1].values())}
    if not deltas:
        return
    stored = _stored(cur, table, list(deltas))
    rows = [(*k, *encode(_plus(stored[k], v) if k in stored else v, field(k[0])))
            for k, v in deltas.items()]
    upsert(db, cur, table, (*PERIOD, *COLUMNS), PERIOD, rows)


def _stored(cur: Cursor, table: str, keys: list[tuple]) -> dict[tuple, Packed]:
    out = {}
    for i in range(0, len(keys), 200):
        chunk = keys[i:i + 200]
        cur.execute(f"SELECT {', '.join((*PERIOD, *COLUMNS))} FROM {table} "
                    f"WHERE ({', '.join(PERIOD)}) IN (VALUES "
                    f"{', '.join('(?, ?, ?, ?)' for _ in chunk)})", [v for k in chunk for v in k])
        out.update({tuple(r[:4]): decode(bytes(r[4]), bytes(r[5]), field(r[0]))
                    for r in cur.fetchall()})
    return out


def derive(db: Database, cur: Cursor, table: str, summonses: str, dims: tuple[str, ...],
           months: range) -> None:
    """Fills `table` from the `summonses` rows blown in `months` (every month
    from the first to the last): each day's histograms packed from the rows,
    its 旬's and month's summed from the days, and every key's running total
    through each month from its first on, which is what the deltas of `add`
    leave there too. A month at a time (one read of its rows for every
    dimension), so that no statement waits long on Python (PostgreSQL ends a
    transaction idle for a few seconds) and only one running total a key is
    held, not one a key and month; each grain's rows are written as they are
    made, in the order of the table's key."""
    totals: dict[str, dict[str, Packed]] = {dim: {} for dim in dims}  # its running totals
    for month in months:
        cur.execute(f"SELECT day, minutes, {', '.join(dims)} FROM {summonses} WHERE blown >= ? "
                    "AND blown < ? AND reported_at IS NOT NULL",
                    [day_start_us(month_day(month)), day_start_us(month_day(month + 1))])
        found = cur.fetchall()
        ones: dict[int, list] = {}  # f -> each row's `one`, shared by dims of one width
        for column, dim in enumerate(dims, start=2):
            f = field(dim)
            if f not in ones:
                ones[f] = [one(row[1], f) for row in found]
            days: dict[tuple, list] = {}  # (day, key) -> [packed groups, {g: packed slots}]
            for row, (g, up_group, up_slot) in zip(found, ones[f]):
                k = (row[0], row[column])
                packed = days.get(k)
                if packed is None:
                    days[k] = [up_group, {g: up_slot}]
                    continue
                packed[0] += up_group
                slots = packed[1]
                slots[g] = slots.get(g, 0) + up_slot
            xuns: dict[tuple, list] = {}
            month_rows: dict[str, list] = {}
            for (day, key), (groups, slots) in days.items():
                for coarser, k in ((xuns, (xun_id(day), key)), (month_rows, key)):
                    packed = coarser.setdefault(k, [0, {}])
                    packed[0] += groups
                    for g, v in slots.items():
                        packed[1][g] = packed[1].get(g, 0) + v
            running = totals[dim]
            for key, packed in month_rows.items():
                running[key] = _plus(running[key], tuple(packed)) if key in running \
                    else tuple(packed)
            for grain, rows in (("d", days), ("x", xuns)):
                _insert(db, cur, table, (((dim, grain, period, key), v)
                                         for (period, key), v in sorted(rows.items())))
            del days, xuns
            for grain, rows in (("m", month_rows), (RUNNING, running)):
                _insert(db, cur, table, (((dim, grain, month, key), v)
                                         for key, v in sorted(rows.items())))


def _insert(db: Database, cur: Cursor, table: str, rows: Iterable[tuple[tuple, Packed]]) -> None:
    """New rows, written as COPY takes them, not all held at once."""
    insert_rows(db, cur, table, (*PERIOD, *COLUMNS),
                ((*k, *encode(v, field(k[0]))) for k, v in rows))


def _plus(a: Packed, b: Packed) -> Packed:
    slots = dict(a[1])
    for g, v in b[1].items():
        slots[g] = slots.get(g, 0) + v
    return a[0] + b[0], slots
