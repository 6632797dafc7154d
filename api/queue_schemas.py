"""Request bodies of the push-back verbs (issue 14). Kept apart from
api/schemas.py so the two merge cleanly; the same kind of bounds: lengths
capped, no control characters (NUL included) in any text."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field

from api.schemas import Body, Code

_NO_CONTROLS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tabs and newlines are text
Reason = Annotated[str, Field(min_length=1, max_length=2000, pattern=_NO_CONTROLS)]
Note = Annotated[str, Field(min_length=1, max_length=2000, pattern=_NO_CONTROLS)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a timezone, e.g. 2026-05-08T18:00:00+08:00")
    return value


class DeclineIn(Body):
    department: Code | None = None  # a department token's own when left out
    reason: Reason


class DecisionOnDeclineIn(Body):
    department: Code
    accept: bool
    note: Note | None = None


class SummonIn(Body):
    department: Code
    replaces: Code | None = None  # 改派 when given, 追加 when not
    reason: Reason | None = None


class ExtensionIn(Body):
    department: Code | None = None
    until: Annotated[datetime, AfterValidator(_aware)]
    reason: Reason


class DecisionOnExtensionIn(Body):
    department: Code
    approve: bool
    note: Note | None = None


class DuplicateIn(Body):
    duplicate_of: UUID
    reason: Reason | None = None
