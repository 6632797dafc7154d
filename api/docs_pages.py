"""/docs (Swagger UI) and /redoc from copies of their assets in api/static/,
not from a CDN: on a network without the internet, FastAPI's own pages are
blank. The versions and licences are in api/static/README.md."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PAGES = frozenset({"/docs", "/redoc"})  # the pages api/security_headers.py lets run scripts


def install(app: FastAPI) -> None:
    """For an app made with docs_url=None and redoc_url=None."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    title = f"{app.title} — API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=title,
                                   swagger_js_url="/static/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon-32x32.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url, title=title,
                              redoc_js_url="/static/redoc.standalone.js",
                              redoc_favicon_url="/static/favicon-32x32.png",
                              with_google_fonts=False)
