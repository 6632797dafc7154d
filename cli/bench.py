"""`redwhistle bench [--size district|city|megacity ...]`: the benchmark
harness of bench/run.py, which prints one table of figures and baselines."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="run the benchmarks (see bench/README.md)",
                           add_help=False)
    # Every option is bench/run.py's own; `redwhistle bench --help` lists them.
    bench.set_defaults(run=run, passes_on=True)


def run(args: argparse.Namespace) -> int:
    from bench.run import main
    return main(args.extra)
