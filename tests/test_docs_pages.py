"""/docs and /redoc work without the internet: their HTML names only
same-origin assets, each served from the package, and Swagger UI renders in
a browser that can reach 127.0.0.1 and nothing else."""
from __future__ import annotations

import re
import subprocess
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from bench.ingest_bench import Server
from service_layer.bootstrap import bootstrap
from adapters.settings import Settings

TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
def app_client(tmp_path):
    services = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/docs.sqlite"))
    try:
        with TestClient(create_app(services)) as client:
            yield client
    finally:
        services.close()


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_same_origin_assets(app_client, page):
    got = app_client.get(page)
    assert got.status_code == 200
    html = got.text
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    assert not re.search(r"""['"(]\s*(https?:)?//""", html), "a URL of another host"
    refs = _references(html)
    assets = [r for r in refs if r.startswith("/static/")]
    assert len(assets) >= (3 if page == "/docs" else 2), refs
    assert "/openapi.json" in refs
    for ref in refs:
        assert not urlparse(ref).netloc, ref
        answer = app_client.get(ref)
        assert answer.status_code == 200, ref
        if ref in assets:
            suffix = ref[ref.rindex("."):]
            assert TYPES[suffix] in answer.headers["content-type"], ref
            assert len(answer.content) > 500, ref


def test_swagger_ui_renders_with_only_localhost_reachable(tmp_path):
    with Server(f"sqlite:///{tmp_path}/docs.sqlite", follow=False) as server:
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path}/chromium",
             # every host but 127.0.0.1 is unresolvable, as on an offline network
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--virtual-time-budget=20000", "--dump-dom",
             f"http://127.0.0.1:{server.port}/docs"],
            capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'class="swagger-ui' in dom
    operations = re.findall(r'class="opblock opblock-(get|post)', dom)
    assert len(operations) > 10, dom[:2000]
    assert "/v1/compounds/{code}/whistles" in dom
