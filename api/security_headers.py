"""Security headers on every answer, including errors: the API's answers are
data, never pages, so they may not be framed, sniffed as another type,
cached or sent on as a referrer; the documentation pages get the one
Content-Security-Policy that lets Swagger UI and ReDoc run."""
from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# JSON and CSV load nothing.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

# /docs and /redoc: their pages hold an inline script and inline styles,
# Swagger UI draws icons from data: URIs and ReDoc starts a worker from a
# blob. DOCS_ASSETS are where the pages load their scripts and styles from:
# FastAPI's default is the jsDelivr CDN; once the assets are served by this
# application, 'self' alone is the target and the CDN can go.
DOCS_ASSETS = "'self' https://cdn.jsdelivr.net"
DOCS_CSP = (f"default-src 'self'; script-src {DOCS_ASSETS} 'unsafe-inline'; "
            f"style-src {DOCS_ASSETS} 'unsafe-inline' https://fonts.googleapis.com; "
            "font-src 'self' data: https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com; worker-src 'self' blob:; "
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
    paths = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.add_middleware(SecurityHeaders, docs_paths=frozenset(p for p in paths if p))
