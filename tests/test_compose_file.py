"""The deployment files, checked without a Docker daemon: docker-compose.yml
against the compose-spec schema (the copy check-jsonschema ships) and the
shape README.md promises; the Dockerfile and .dockerignore; and the wheel the
image installs carries the docs pages' assets."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
LONG_RUNNING = {"postgres", "kafka", "api", "follow", "relay"}


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_file_follows_the_compose_spec():
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.compose-spec", str(REPO / "docker-compose.yml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_services_restart_report_health_and_share_one_image():
    services = compose()["services"]
    assert set(services) == LONG_RUNNING
    for name, service in services.items():
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), (name, image)
    for name in ("postgres", "kafka", "api"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    built = [name for name, s in services.items() if "build" in s]
    assert built == ["api"]
    app_image = services["api"]["image"]
    assert {n for n, s in services.items() if s["image"] == app_image} == {"api", "follow",
                                                                          "relay"}
    assert services["api"]["command"][:2] == ["redwhistle", "serve"]
    assert "--no-follow" in services["api"]["command"]
    assert services["follow"]["command"] == ["redwhistle", "follow"]
    assert services["relay"]["command"] == ["redwhistle", "relay"]
    for name in ("api", "follow", "relay"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_image_runs_as_a_user_with_a_data_volume_and_no_local_files():
    lines = [line.split(None, 1) for line in
             (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    instructions = [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in lines]
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "VOLUME" and "/data" in arg for op, arg in instructions)
    assert ("ENV", "REDWHISTLE_HOME=/data") in instructions
    ignored = {line.strip() for line in
               (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    assert {".venv", "var", ".git", "**/__pycache__", "bench/out"} <= ignored


def test_the_installed_package_carries_the_docs_assets(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "var", "__pycache__", "*.egg-info", "build", "tests"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(tmp_path / "wheel"), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = (tmp_path / "wheel").glob("redwhistle-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js",
                  "favicon-32x32.png", "README.md"):
        assert f"api/static/{asset}" in names
