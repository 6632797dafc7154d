"""The benchmark harness: runs every suite and prints one table.

    python -m bench.run --size district          # a few minutes
    python -m bench.run --size tiny --quick      # seconds (the test suite runs this)
    python -m bench.run --size city --only ingest,mixed

Each suite is a module of bench/ offering `run(**options) -> list[row]`; a
row is a dict:

    figure          what is measured, e.g. "1 ingest: HTTP whistles/s, saturated"
    value, unit     our figure
    baseline        the figure it is compared with, measured in the same run
                    (or a target, when baseline_label says "target")
    baseline_label  what the baseline is
    lower_is_better True for latencies and memory (default False)
    note            anything else worth a line (p50, errors, sizes)

The harness adds `ratio` (value / baseline) and, for rows whose baseline
is a target, whether it was met. Suites of other modules are found by name
(bench/dashboard_bench.py, bench/replay_bench.py, bench/relay_bench.py); one
that is missing is listed as not run, one that fails is listed with its error,
and the others still run. `--json FILE` writes the rows as well.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from typing import Any

# name: (module, options it takes from the command line)
SUITES = {
    "ingest": "bench.ingest_bench",
    "mixed": "bench.mixed_bench",
    "dashboard": "bench.dashboard_bench",
    "replay": "bench.replay_bench",
    "relay": "bench.relay_bench",
    "scale": "bench.scale_bench",
}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = float("nan")
    try:
        with open("/proc/meminfo") as f:
            mem_gb = int(f.readline().split()[1]) / 1024 / 1024
    except OSError:
        pass
    pg = "unknown"
    try:
        import psycopg
        from bench.ingest_bench import DEFAULT_PG
        with psycopg.connect(DEFAULT_PG, connect_timeout=3) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001 - the table still prints
        pass
    return dict(cpus=os.cpu_count(), cpu=cpu, memory_gb=round(mem_gb, 1),
                python=platform.python_version(), postgres=pg, kernel=platform.release(),
                load=os.getloadavg()[0])


def suite_options(size: str, seconds: float, quick: bool, seed: int) -> dict[str, Any]:
    """What every suite is offered; each takes the names its run() has.
    `whistles` sizes the dashboard's bulk city like ours: about 61 whistles
    (and 357 events) a compound a year."""
    from bench.city import compounds_for
    options: dict[str, Any] = dict(size=size, seconds=seconds, quick=quick, seed=seed)
    if not quick:
        options["whistles"] = compounds_for(size) * 61
    return options


def _call(run: Any, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Calls a suite's run() with the options it accepts."""
    params = inspect.signature(run).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return list(run(**options))
    return list(run(**{k: v for k, v in options.items() if k in params}))


def run_suites(names: list[str], options: dict[str, Any],
               log: Any = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in names:
        module_name = SUITES[name]
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            rows.append(dict(figure=f"({name})", value=None, note=f"{module_name} not present"))
            continue
        if log:
            log(f"running {name} ...")
        try:
            if hasattr(module, "run"):
                got = _call(module.run, options)
            else:
                got = _subprocess(module_name, options)
            for r in got:
                r.setdefault("suite", name)
            rows += got
        except Exception as exc:  # noqa: BLE001 - one failing suite does not hide the rest
            if log:
                log(traceback.format_exc())
            rows.append(dict(figure=f"({name})", value=None, suite=name,
                             note=f"failed: {type(exc).__name__}: {exc}"[:200]))
        if log:
            log(f"{name} took {time.perf_counter() - t0:.0f} s")
    return [finish(r) for r in rows]


def _subprocess(module_name: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """A suite without run(): `python -m MODULE --json -` printing rows as JSON."""
    args = [sys.executable, "-m", module_name, "--json", "-"]
    if "size" in options:
        args += ["--size", str(options["size"])]
    out = subprocess.run(args, capture_output=True, text=True, timeout=3600, check=True)
    return json.loads(out.stdout)


def finish(row: dict[str, Any]) -> dict[str, Any]:
    value, baseline = row.get("value"), row.get("baseline")
    if isinstance(value, (int, float)) and isinstance(baseline, (int, float)) and baseline:
        row.setdefault("ratio", value / baseline)
    label = str(row.get("baseline_label", ""))
    if "target" in label and isinstance(value, (int, float)) and isinstance(baseline,
                                                                             (int, float)):
        row.setdefault("met", value <= baseline if row.get("lower_is_better") else
                       value >= baseline)
    return row


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != x:  # nan
            return "-"
        text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"
    else:
        text = f"{x:,}" if isinstance(x, int) else str(x)
    return f"{text} {unit}".strip()


def table(rows: list[dict[str, Any]]) -> str:
    """One Markdown table: figure, ours, baseline, ratio, note."""
    lines = ["| figure | ours | baseline (same run) | ratio | note |",
             "|---|---:|---|---:|---|"]
    for r in rows:
        unit = r.get("unit", "")
        base = r.get("baseline")
        if base is not None:
            base_unit = r.get("baseline_unit", unit)
            base = f"{_fmt(base, base_unit)} {r.get('baseline_label', '')}".strip()
        ratio = r.get("ratio")
        ratio_text = "-" if ratio is None else f"{ratio:.2f}×"
        if "met" in r:
            ratio_text += " ✓" if r["met"] else " ✗"
        lines.append(f"| {r.get('figure', '')} | {_fmt(r.get('value'), unit)} | "
                     f"{base or '-'} | {ratio_text} | {r.get('note', '')} |")
    return "\n".join(lines)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(table([finish(r) for r in rows]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="district",
                        help="tiny, district, city, megacity or a number of compounds")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="length of each timed load phase")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(SUITES)}")
    parser.add_argument("--quick", action="store_true",
                        help="short phases and small samples (the smoke test)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else SUITES) if n]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        parser.error(f"unknown suite {', '.join(unknown)}; known: {', '.join(SUITES)}")
    options = suite_options(args.size, args.seconds, args.quick, args.seed)
    info = machine()
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    rows = run_suites(names, options, log=lambda m: print(m, file=sys.stderr, flush=True))
    load_after = os.getloadavg()[0]
    print(f"`python -m bench.run {' '.join(argv if argv is not None else sys.argv[1:])}` "
          f"on {started}")
    print(f"machine: {info['cpus']} cores, {info['cpu']}, {info['memory_gb']} GB RAM, "
          f"Python {info['python']}, PostgreSQL {info['postgres']}, Linux {info['kernel']}; "
          f"load average {info['load']:.1f} before, {load_after:.1f} after (the machine is "
          "shared: figures are lower when it is busy)")
    print()
    print(table(rows))
    if args.json:
        payload = dict(machine=info, started=started, argv=argv or sys.argv[1:], rows=rows)
        text = json.dumps(payload, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
            with open(args.json, "w") as f:
                f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
