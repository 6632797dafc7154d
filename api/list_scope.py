"""Which rows of the work queues a principal may see, as SQL conditions over
the issues table (alias `i`) of projections/issues/view.py. Added to every list
query, so nothing out of scope reaches a page, a cursor or a count."""
from __future__ import annotations

from projections.issues.query import Conditions
from service_layer.tokens import Principal


def issue_scope(who: Principal, summonses_table: str) -> Conditions:
    c = Conditions()
    if who.role in ("admin", "auditor", "viewer"):
        return c
    if who.role in ("official", "grid_worker"):
        if who.street:
            c.add("i.street = ?", who.street)
        if who.role == "grid_worker" and who.grids:
            c.add(f"i.grid IN ({', '.join('?' for _ in who.grids)})", *who.grids)
        return c
    if who.role == "department" and who.department:
        return c.add(f"EXISTS (SELECT 1 FROM {summonses_table} ds WHERE ds.compound = i.compound "
                     "AND ds.issue_id = i.issue_id AND ds.department = ?)", who.department)
    return c.add("1 = 0")  # an unknown role or an unbound department sees nothing


def compound_scope(who: Principal) -> Conditions:
    """Compounds are no secret to any reader; street-bound roles see their street's."""
    c = Conditions()
    if who.role in ("official", "grid_worker") and who.street:
        c.add("i.street = ?", who.street)
    return c


def redacted(who: Principal) -> bool:
    """A viewer sees the lists without descriptions and personal names."""
    return who.role == "viewer"
