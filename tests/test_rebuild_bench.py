"""bench/rebuild_bench.py on a small log: both rebuilds run in processes of
their own and the table gives both rates and their ratio."""
from __future__ import annotations

from bench import rebuild_bench


def test_the_rebuild_bench_prints_both_rates_and_their_ratio(capsys, tmp_path):
    url = f"sqlite:///{tmp_path}/log.sqlite"
    assert rebuild_bench.main(["--url", url, "--events", "1500", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "| now |" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    but_issues, everything, ratio = (float(c.split()[0].replace(",", "")) for c in cells[2:5])
    assert but_issues > 0 and everything > 0
    assert abs(ratio - everything / but_issues) < 0.01
