"""One room per concern (issue 12): moves modules into their new rooms and
rewrites every reference to them across the tree. Stdlib only; run from the
repository root:

    python tools/rearrange.py            # apply (idempotent: a second run changes nothing)
    python tools/rearrange.py --dry-run  # say what would move and which files would change

Everything is driven by MOVES below (old module -> new module). To carry along a
module another branch added, add its line and run the script again: files are
moved only if the old file exists, and references to an old name are rewritten
wherever they are still found (imports, `import x.y` uses, dotted names in
strings such as mock targets or `-m` arguments, file paths in docs and comments,
pyproject's package list). A chain (a -> b and b -> c) is not supported.

Event classes are stored by topic `module:Class`; every stored topic names a
module of `domain/` (checked on a database filled by the demo district), and no
module here moves out of `domain/`, so no topic alias is needed. A line moving a
module that defines a stored class would need
`eventsourcing.utils.register_topic(old_topic, cls)`.

Splits and merges of files are not done here: docs/rearrangement-plan.md lists
them as hand steps, to be done after this script has run.

After a run: `pip install -e '.[dev]'` again (new top-level packages), then the
tests.
"""
from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

# -- THE MAPPING: old module -> new module ---------------------------------------
MOVES: list[tuple[str, str]] = [
    # adapters/: SQL plumbing, settings, the event store's configuration, threads, Kafka
    ("service_layer.db", "adapters.db"),
    ("service_layer.settings", "adapters.settings"),
    ("service_layer.application", "adapters.eventstore"),
    ("service_layer.background", "adapters.background"),
    ("consumers.broker", "adapters.kafka"),
    ("service_layer.limits", "adapters.limits"),   # merged from branch edge: storage bounds
    # service_layer/: use cases, the save/load path, bootstrap, the deadline policy
    ("service_layer.group_commit", "service_layer.store.group_commit"),
    ("service_layer.write_cache", "service_layer.store.write_cache"),
    ("projections.deadline_watcher", "service_layer.deadline_watcher"),
    # audit/: hashing, chain, sealer, cuts, replay, verify, export (split by hand after)
    ("projections.chain", "audit.chain"),
    ("service_layer.audit", "audit.replay"),
    # projections/: the feed, and one subpackage per view
    ("projections.base", "projections.feed"),
    ("projections.dashboard", "projections.dashboard.view"),
    ("projections.dashboard_calendar", "projections.dashboard.calendar"),
    ("projections.dashboard_cdf", "projections.dashboard.cdf"),
    ("projections.dashboard_percentiles", "projections.dashboard.percentiles"),
    ("projections.dashboard_query", "projections.dashboard.query"),
    ("projections.dashboard_rows", "projections.dashboard.rows"),
    ("projections.dashboard_running", "projections.dashboard.running"),
    ("projections.agenda", "projections.agenda.view"),
    ("projections.rankings", "projections.rankings.view"),
    ("projections.open311", "projections.open311.view"),   # merged from branch open311
    ("projections.issues", "projections.issues.view"),     # merged from branch queues
    ("projections.issues_query", "projections.issues.query"),
    ("service_layer.migrate", "adapters.migrate"),          # merged from branch migrate (DDL)
]

# Files never rewritten: this script (its table names the old modules on
# purpose), the plan, which describes the move, and what is written for the
# new layout already.
KEEP_AS_IS = {"tools/rearrange.py", "tools/test_rearrange.py", "docs/rearrangement-plan.md",
              "docs/architecture.md",
              "tools/test_architecture.py", "tests/test_architecture.py"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".txt", ".sh", ".json"}
TEXT_NAMES = {"Dockerfile", "run"}          # .ci/run
TMP = Path(".rearrange-tmp")


# -- names --------------------------------------------------------------------------
def module_path(module: str) -> Path:
    return Path(*module.split(".")).with_suffix(".py")


def packages_of(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


OLD_TO_NEW = dict(MOVES)
NEW_MODULES = set(OLD_TO_NEW.values())
NEW_PACKAGES = {p for new in NEW_MODULES for p in packages_of(new)}
NEW_NAMES = NEW_MODULES | NEW_PACKAGES
# An old module that becomes a package of the same name (projections.dashboard):
# a bare mention of it is ambiguous once moved, so it is rewritten only on the
# run that performs the move.
AMBIGUOUS = {old for old in OLD_TO_NEW if old in NEW_PACKAGES}


def check_mapping() -> None:
    olds = [old for old, _ in MOVES]
    assert len(olds) == len(set(olds)), "an old module is listed twice"
    news = [new for _, new in MOVES]
    assert len(news) == len(set(news)), "two modules move to one place (merges are hand steps)"
    chained = set(olds) & NEW_MODULES
    assert not chained, f"chains are not supported: {chained}"
    for old in olds:
        assert not old.startswith("domain."), f"{old}: domain modules hold stored topics"


# -- files ---------------------------------------------------------------------------
def in_git() -> bool:
    return subprocess.run(["git", "rev-parse", "--is-inside-work-tree"],
                          capture_output=True, text=True).returncode == 0


def tracked(path: Path) -> bool:
    return subprocess.run(["git", "ls-files", "--error-unmatch", str(path)],
                          capture_output=True).returncode == 0


def move(src: Path, dst: Path, git: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if git and tracked(src):
        subprocess.run(["git", "mv", str(src), str(dst)], check=True)
    else:
        shutil.move(str(src), str(dst))


def text_files(git: bool) -> list[Path]:
    if git:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        paths = [Path(p) for p in out if p]
    else:
        paths = [p for p in Path(".").rglob("*")
                 if not any(part.startswith(".") and part not in (".ci",) for part in p.parts)]
    return sorted(p for p in paths
                  if p.is_file() and p.as_posix() not in KEEP_AS_IS
                  and (p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES))


# -- the moves -----------------------------------------------------------------------
def plan_moves() -> tuple[list[tuple[Path, Path]], list[str]]:
    todo, notes = [], []
    for old, new in MOVES:
        src, dst = module_path(old), module_path(new)
        if src.is_file() and dst.is_file():
            notes.append(f"CONFLICT {src} and {dst} both exist: merge by hand")
        elif src.is_file():
            todo.append((src, dst))
        elif not dst.is_file():
            notes.append(f"missing: neither {src} nor {dst}")
    return todo, notes


def do_moves(todo: list[tuple[Path, Path]], git: bool) -> None:
    # Through a scratch folder first: projections/dashboard.py must leave before
    # the folder projections/dashboard/ can be made.
    parked = []
    for i, (src, dst) in enumerate(todo):
        tmp = TMP / f"{i}_{src.name}"
        move(src, tmp, git)
        parked.append((tmp, dst))
    for tmp, dst in parked:
        move(tmp, dst, git)
    if TMP.exists():
        shutil.rmtree(TMP)


def ensure_packages(git: bool, dry: bool) -> list[Path]:
    made = []
    for package in sorted(NEW_PACKAGES):
        init = Path(*package.split(".")) / "__init__.py"
        if not init.exists():
            made.append(init)
            if not dry:
                init.parent.mkdir(parents=True, exist_ok=True)
                init.write_text("")
                if git:
                    subprocess.run(["git", "add", str(init)], check=True)
    return made


# -- rewriting Python imports (statement by statement) --------------------------------------
RENAME = object()


def _alias(name: str, asname: str | None) -> str:
    return name if not asname or asname == name else f"{name} as {asname}"


def _from_line(indent: str, module: str, names: list[str]) -> str:
    line = f"{indent}from {module} import {', '.join(names)}"
    if len(line) <= 99:
        return line
    # The project's wrapping: names filled up to 99 columns under the parenthesis.
    head = f"{indent}from {module} import ("
    lines, current = [], head
    for i, name in enumerate(names):
        piece = name + (")" if i == len(names) - 1 else ",")
        if current not in (head, " " * len(head)) and len(current) + 1 + len(piece) > 99:
            lines.append(current)
            current = " " * len(head)
        current += ("" if current in (head, " " * len(head)) else " ") + piece
    return "\n".join(lines + [current])


def rewrite_import(node: ast.stmt, indent: str) -> list[str] | None:
    """The new statement(s) for an import that names a moved module, else None."""
    if isinstance(node, ast.Import):
        if not any(a.name in OLD_TO_NEW for a in node.names):
            return None
        names = [_alias(OLD_TO_NEW.get(a.name, a.name), a.asname) for a in node.names]
        return [f"{indent}import {', '.join(names)}"]
    if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
        return None
    module = node.module
    kept: list[str] = []
    groups: dict[str, list[str]] = {}
    changed = False
    for a in node.names:
        full = f"{module}.{a.name}"
        if full in OLD_TO_NEW:
            # `from projections import dashboard_cdf as cdf`: a module imported by name
            # (an import of the new, empty package itself would be pointless)
            parent, leaf = OLD_TO_NEW[full].rsplit(".", 1)
            groups.setdefault(parent, []).append(_alias(leaf, a.asname or a.name))
            changed = True
        elif module in OLD_TO_NEW and not (module in NEW_PACKAGES
                                            and f"{module}.{a.name}" in NEW_NAMES):
            groups.setdefault(OLD_TO_NEW[module], []).append(_alias(a.name, a.asname))
            changed = True
        else:
            kept.append(_alias(a.name, a.asname))
    if not changed:
        return None
    if not kept and list(groups) == [OLD_TO_NEW.get(module)]:
        return [RENAME, module, OLD_TO_NEW[module]]     # only the module's name changes
    lines = [_from_line(indent, module, kept)] if kept else []
    lines += [_from_line(indent, parent, names) for parent, names in groups.items()]
    return lines


def rewrite_python_imports(text: str, path: Path, warnings: list[str]) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        warnings.append(f"{path}: not parsed ({e}); only dotted names rewritten")
        return text
    lines = text.split("\n")
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
        indent = first[:node.col_offset]
        new = rewrite_import(node, indent)
        if new is None:
            continue
        if new[0] is RENAME:            # keep the statement's own wrapping
            statement = "\n".join(lines[node.lineno - 1:node.end_lineno])
            new = statement.replace(f"from {new[1]} import", f"from {new[2]} import", 1).split("\n")
            edits.append((node.lineno - 1, node.end_lineno, new))
            continue
        tail = last[node.end_col_offset:]
        if indent.strip() or (tail.strip() and not tail.strip().startswith("#")):
            warnings.append(f"{path}:{node.lineno}: import shares its line; fix by hand")
            continue
        if tail.strip():
            new[-1] += "  " + tail.strip()
        edits.append((node.lineno - 1, node.end_lineno, new))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    return "\n".join(lines)


def import_lines(text: str) -> set[int]:
    """0-based numbers of lines inside import statements (left to the statement pass)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {i for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for i in range(node.lineno - 1, node.end_lineno)}


# -- rewriting dotted names and paths anywhere ------------------------------------------
_OLDS = sorted(OLD_TO_NEW, key=len, reverse=True)
DOTTED = re.compile(r"(?<![\w.])(" + "|".join(re.escape(o) for o in _OLDS)
                    + r")(?!\w)((?:\.[A-Za-z_]\w*)*)")
PATHS = re.compile(r"(?<![\w/.])(" + "|".join(re.escape(module_path(o).with_suffix("").as_posix())
                                              for o in _OLDS) + r")\.py(?!\w)")
PATH_TO_NEW = {module_path(o).with_suffix("").as_posix(): module_path(n).as_posix()
               for o, n in MOVES}


def rewrite_names(text: str, moved_now: set[str]) -> str:
    def dotted(m: re.Match) -> str:
        old, rest = m.group(1), m.group(2)
        parts = rest.split(".")[1:] if rest else []
        for k in range(1, len(parts) + 1):
            if ".".join([old, *parts[:k]]) in NEW_NAMES:
                return m.group(0)       # already the new layout (projections.dashboard.cdf)
        if not parts and old in AMBIGUOUS and old not in moved_now:
            return m.group(0)           # the new package, mentioned after the move
        return OLD_TO_NEW[old] + rest

    text = DOTTED.sub(dotted, text)
    return PATHS.sub(lambda m: PATH_TO_NEW[m.group(1)], text)


def rewrite_file(path: Path, moved_now: set[str], warnings: list[str]) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        text = rewrite_python_imports(text, path, warnings)
        skip = import_lines(text)
        lines = text.split("\n")
        text = "\n".join(line if i in skip else rewrite_names(line, moved_now)
                         for i, line in enumerate(lines))
    else:
        text = rewrite_names(text, moved_now)
    if path.name == "pyproject.toml":
        text = add_packages(text)
    return text


def add_packages(text: str) -> str:
    roots = sorted({new.split(".")[0] for new in NEW_MODULES})
    m = re.search(r"^(include\s*=\s*\[)([^\]]*)\]", text, re.M)
    if not m:
        return text
    present = re.findall(r'"([^"*]+)\*?"', m.group(2))
    missing = [r for r in roots if r not in present]
    if not missing:
        return text
    body = m.group(2).rstrip() + "".join(f', "{r}*"' for r in missing)
    return text[:m.start()] + m.group(1) + body + "]" + text[m.end():]


# -- main ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if not Path("pyproject.toml").is_file() or not Path("domain").is_dir():
        print("run from the repository root", file=sys.stderr)
        return 2
    check_mapping()
    git = in_git()
    todo, notes = plan_moves()
    moved_now = {old for old, _ in MOVES if module_path(old).is_file()}
    for src, dst in todo:
        print(f"move {src} -> {dst}")
    for note in notes:
        print(note)
    if any(n.startswith("CONFLICT") for n in notes):
        return 1
    if not args.dry_run:
        do_moves(todo, git)
    for init in ensure_packages(git, args.dry_run):
        print(f"new package {init}")
    warnings: list[str] = []
    changed = 0
    for path in text_files(git):
        try:
            before = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        after = rewrite_file(path, moved_now, warnings)
        if after != before:
            changed += 1
            print(f"rewrite {path}")
            if not args.dry_run:
                path.write_text(after, encoding="utf-8")
    for w in warnings:
        print("WARNING", w)
    print(f"{len(todo)} moved, {changed} files rewritten"
          + (" (dry run)" if args.dry_run else "; now: pip install -e '.[dev]'"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
