"""Security headers on every answer, including errors: the API's answers are
data, never pages, so they may not be framed, sniffed as another type,
cached or sent on as a referrer; the documentation pages get the one
Content-Security-Policy that lets Swagger UI and ReDoc run."""
from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.docs_pages import PAGES

# JSON and CSV load nothing.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

# /docs and /redoc: their pages hold an inline script and inline styles,
# Swagger UI draws icons from data: URIs and ReDoc starts a worker from a
# blob. Their scripts and styles are served by this application itself
# (api/static/), never from another origin: intranets have no internet.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
            "img-src 'self' data:; worker-src 'self' blob:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

ALWAYS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
          "Referrer-Policy": "no-referrer"}


class SecurityHeaders:
    """Pure ASGI middleware (BaseHTTPMiddleware would add a task per request)."""

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in self.docs_paths

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else API_CSP)
                if not docs:
                    # answers carry what a token may read: no cache keeps them
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app) -> None:
    app.add_middleware(SecurityHeaders, docs_paths=PAGES)
