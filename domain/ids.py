"""Stable aggregate ids: the same code always gives the same id, so a retry or
an import never creates a second compound or company."""
from uuid import NAMESPACE_URL, UUID, uuid5

_NAMESPACE = uuid5(NAMESPACE_URL, "https://redwhistle.example/ids")


def compound_id(code: str) -> UUID:
    return uuid5(_NAMESPACE, f"compound:{code}")


def company_id(code: str) -> UUID:
    return uuid5(_NAMESPACE, f"company:{code}")
