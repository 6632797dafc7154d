"""Request bodies are UTF-8 JSON. A body declared in another charset
(`Content-Type: application/json; charset=latin-1`, UTF-16) is refused with
415 naming it: the JSON parser would otherwise guess, reading UTF-16 as if
nothing were amiss and Latin-1 as garbled UTF-8 or a parse error."""
from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers

from api.errors import problem

UTF8 = ("utf-8", "utf8")


def declared_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


class Utf8Only:
    """ASGI middleware: it answers before the routes read the body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            charset = declared_charset(Headers(scope=scope).get("content-type", ""))
            if charset is not None and charset not in UTF8:
                response = problem(
                    415, f"charset {charset} is not accepted: send the body as UTF-8")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
