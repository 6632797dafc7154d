"""The floor plan, checked (issue 12; docs/architecture.md draws it): the
rooms exist, and every arrow between them points the one allowed way.

Every module's imports are read with `ast`, at any depth (imports inside
functions count: they are arrows too).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("domain", "adapters", "service_layer", "projections", "audit", "consumers",
        "api", "cli", "bench", "tools", "tests")

# Which room may import which. Entry points (api, cli, the department
# consumer) -> use cases (service_layer) -> domain; read models (projections)
# and audit read the log through adapters (db, eventstore), never through the
# composition root.
ALLOWED = {
    "domain": {"domain"},
    "adapters": {"adapters", "domain"},
    "projections": {"projections", "adapters", "domain"},
    "audit": {"audit", "projections", "adapters", "domain"},
    "service_layer": {"service_layer", "adapters", "domain"},
    "consumers": {"consumers", "adapters", "domain"},
    "api": {"api", "service_layer", "projections", "audit", "consumers", "adapters", "domain"},
    "cli": {"cli", "api", "service_layer", "projections", "audit", "consumers", "adapters",
            "domain", "bench"},
}
# Narrower than a room: (importing module prefix, imported module prefix).
ALSO_ALLOWED = {
    # The deadline watcher is a policy: it reads the dashboard's due list, then
    # issues commands through the use cases.
    ("service_layer.deadline_watcher", "projections.dashboard"),
    # The composition root makes the one chain and the one relay store of a
    # process (Services is no registry: they are its fields).
    ("service_layer.bootstrap", "audit.chain"),
    ("service_layer.bootstrap", "consumers.relay_store"),
}
# The composition root (`Services`) is for entry points only.
ROOT_MODULE = "service_layer.bootstrap"
MAY_IMPORT_ROOT = ("api", "cli", "bench", "tests", "tools", "service_layer.demo",
                   "service_layer.bootstrap")
# Nor is it handed in where it is not imported: the rooms that read the log
# take a Log (adapters.eventstore) and, in audit, the Chain built on it, and
# never name `Services` nor reach for what only it holds.
READ_THE_LOG = ("projections", "audit", "consumers")
SERVICES_ONLY = ("governance", "tokens", "relay_store", "contacts", "follower")
# The domain's third-party imports: the event library's domain part only.
DOMAIN_LIBRARIES = ("eventsourcing.domain", "eventsourcing.utils")
# Settings only through Settings.
READS_ENVIRONMENT = ("adapters.settings", "bench", "tests", "tools")
RUNTIME = ("domain", "adapters", "service_layer", "projections", "audit", "consumers", "api",
           "cli")



def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> Iterator[tuple[str, ast.AST]]:
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" not in path.parts:
                yield module_name(path), ast.parse(path.read_text(encoding="utf-8"))


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported(tree: ast.AST) -> Iterator[str]:
    """Every module an import statement names (`from a import b` names a.b if
    that is a module, else a)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                yield full if is_module(full) else node.module


def room(module: str) -> str:
    return module.split(".")[0]


def within(module: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def crossings() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for name, tree in modules():
        for target in imported(tree):
            top = room(target)
            if name.split(".")[0] == "domain" and top not in OURS:
                if top == "eventsourcing" and not within(target, DOMAIN_LIBRARIES):
                    found.add((name, f"imports {target}"))
                continue
            if top not in OURS:
                continue
            if within(target, ROOT_MODULE) and not within(name, MAY_IMPORT_ROOT):
                found.add((name, f"imports {ROOT_MODULE}"))
                continue
            allowed = ALLOWED.get(room(name))
            if allowed is None or top in allowed:
                continue
            if any(within(name, a) and within(target, b) for a, b in ALSO_ALLOWED):
                continue
            found.add((name, f"imports {target}"))
        if not within(name, RUNTIME):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "extras":
                found.add((name, "uses .extras"))
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"
                    and not within(name, READS_ENVIRONMENT)):
                found.add((name, "reads os.environ"))
            if isinstance(node, ast.Call) and any(k.arg == "present" for k in node.keywords):
                found.add((name, "passes present="))
            if within(name, READ_THE_LOG):
                if isinstance(node, ast.Name) and node.id == "Services":
                    found.add((name, "takes Services"))
                if isinstance(node, ast.Attribute) and node.attr in SERVICES_ONLY:
                    found.add((name, f"reaches for Services.{node.attr}"))
    return found


def test_the_rooms_exist() -> None:
    for package in ("adapters", "audit", "projections.dashboard", "projections.agenda",
                    "projections.rankings", "service_layer.store"):
        assert is_module(package), f"{package} is missing"
    assert is_module("projections.feed") and is_module("service_layer.deadline_watcher")


def test_arrows_point_one_way() -> None:
    found = crossings()
    new = sorted(found)
    assert not new, "crossings not allowed by docs/architecture.md:\n" + "\n".join(
        f"  {m}: {what}" for m, what in new)


def test_services_only_names_what_only_services_holds() -> None:
    from dataclasses import fields

    from adapters.eventstore import Log
    from service_layer.bootstrap import Services
    held = {f.name for f in fields(Services)} - {f.name for f in fields(Log)}
    assert set(SERVICES_ONLY) == held - {"settings", "log", "chain"}


def test_the_checker_sees_a_crossing(tmp_path: Path) -> None:
    tree = ast.parse("from service_layer.bootstrap import Services\n"
                     "def f():\n    from api import app\n")
    assert set(imported(tree)) >= {"service_layer.bootstrap", "api.app"}
    assert room("api.app") not in ALLOWED["projections"]
