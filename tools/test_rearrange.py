"""tools/rearrange.py's rewriting, on snippets (no file moves):

    .venv/bin/python -m pytest -q -p no:cacheprovider tools/test_rearrange.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rearrange  # noqa: E402

FIRST = {old for old, _ in rearrange.MOVES}   # the run that moves every file


def rewrite(text: str, moved_now: set[str] = FIRST, name: str = "x.py") -> str:
    path = Path(name)
    warnings: list[str] = []
    if path.suffix == ".py":
        text = rearrange.rewrite_python_imports(text, path, warnings)
        skip = rearrange.import_lines(text)
        return "\n".join(line if i in skip else rearrange.rewrite_names(line, moved_now)
                         for i, line in enumerate(text.split("\n")))
    return rearrange.rewrite_names(text, moved_now)


def test_from_imports() -> None:
    assert rewrite("from service_layer.db import Cursor, Database\n") == \
        "from adapters.db import Cursor, Database\n"
    assert rewrite("from projections.dashboard import DashboardView\n") == \
        "from projections.dashboard.view import DashboardView\n"
    assert rewrite("def f():\n    from projections import dashboard_cdf as cdf\n") == \
        "def f():\n    from projections.dashboard import cdf\n"
    assert rewrite("from projections import agenda\n") == \
        "from projections.agenda import view as agenda\n"
    assert rewrite("from projections import agenda, registry\n") == \
        "from projections import registry\nfrom projections.agenda import view as agenda\n"
    assert rewrite("from service_layer import audit\n") == "from audit import replay as audit\n"


def test_wrapping_is_kept_when_only_the_module_changes() -> None:
    src = "from projections.dashboard_calendar import (\n    LOCAL_TZ, split)\n"
    assert rewrite(src) == "from projections.dashboard.calendar import (\n    LOCAL_TZ, split)\n"


def test_dotted_names_and_paths() -> None:
    src = ('import projections.dashboard_query\n'
           'w = projections.dashboard_query.weights()\n'
           'monkeypatch.setattr("projections.base.read_log", f)\n'
           '# see service_layer/write_cache.py and projections/dashboard.py\n')
    assert rewrite(src) == ('import projections.dashboard.query\n'
                            'w = projections.dashboard.query.weights()\n'
                            'monkeypatch.setattr("projections.feed.read_log", f)\n'
                            '# see service_layer/store/write_cache.py and '
                            'projections/dashboard/view.py\n')
    # a longer name that merely starts like a moved one is left alone
    assert rewrite("x = myprojections.base.y; projections.bases\n") == \
        "x = myprojections.base.y; projections.bases\n"


def test_a_second_run_changes_nothing() -> None:
    src = ("from projections.dashboard import cdf, running\n"
           "from projections.dashboard.view import DashboardView\n"
           "import projections.dashboard.query\n"
           "t = 'projections.dashboard.cdf.x'\n"
           "doc = 'the projections.dashboard package'\n")
    assert rewrite(src, moved_now=set()) == src
    once = rewrite("from projections import dashboard_cdf as cdf\nx = 'projections.dashboard'\n")
    assert rewrite(once, moved_now=set()) == once


def test_pyproject_gains_the_new_packages() -> None:
    got = rearrange.add_packages('include = ["domain*", "service_layer*"]\n')
    assert got == 'include = ["domain*", "service_layer*", "adapters*", "audit*", "projections*"]\n'
    assert rearrange.add_packages(got) == got


def test_the_mapping_is_sound() -> None:
    rearrange.check_mapping()
    assert not any(old.startswith("domain.") for old, _ in rearrange.MOVES)
