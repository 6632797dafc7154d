"""What a view's reader refuses. A read model raises no use case's error: the
API maps this one to 422 naming the field (api/errors.py), as it does the use
cases' `InvalidField`."""
from __future__ import annotations


class BadFilter(ValueError):
    """A filter, sort or cursor a view cannot read, with the field it came in."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
