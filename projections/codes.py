"""The one id -> code cache of the views: which compound or property company
an event's originator id names. Ids are uuid5 of the code (compounds and
companies of different names, so they cannot collide), so an id names one
code for ever, in any database and under any prefix: a process-wide cache is
safe. Each view fills it with its own SELECT from its own tables."""
from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

CODES: dict[UUID, str] = {}


def remember(id_: UUID, code: str) -> None:
    CODES[id_] = code


def missing(ids: Iterable[UUID]) -> set[UUID]:
    """The ids whose code is not known yet."""
    return {i for i in ids if i not in CODES}
