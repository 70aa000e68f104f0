"""Benchmarks, measured in one command run so figures can be compared as ratios on a noisy machine.

    python -m pipelines.benchmark network --scale medium --out bench/medium   (what `make bench` runs)
    python -m pipelines.benchmark month --landing DIR --month YYYY-MM

`network` generates (or reuses) a synthetic clinic network, measures the floor (plain DuckDB
read_csv of every file), a cold build of every month through the real Dagster run, a history
of all months but the last plus the last month delivered afterwards and run alone (as the
landing sensor requests it), per-stage time and peak memory from the runs' event logs, and
GX against the same rules as plain SQL; it writes <out>/result.json with a verdict per target
and prints a table. See docs/performance.md.

`month` times, for one export month in this process: the floor, the ingest load, the
validation and the GX suites, each against a fresh DuckDB file, and prints each as a ratio
to the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from pipelines.cli import add_network_arguments, network_config
from pipelines.settings import ENGINES
from pipelines.tools.synth.config import SCALES


def _network(args: argparse.Namespace, argv: list[str]) -> int:
    from pipelines.tools.bench.network import bench_network, render

    config = network_config(args)
    if args.engine:  # every run of the benchmark inherits it (child_env copies the environment)
        os.environ["OUTCOMES_ENGINE"] = args.engine
    suffix = f"-{args.engine}" if args.engine == "spark" else ""
    out = args.out or Path("bench") / f"{args.scale}{suffix}"
    preset = args.scale if config == SCALES[args.scale] else None  # the size flags made another network
    result = bench_network(config, out.resolve(), full_cold=not args.no_full_cold, cold_only=args.cold_only,
                           gx_repeat=args.gx_repeat, profile_gx=args.profile_gx, keep=args.keep,
                           label=args.label, argv=["python -m pipelines.benchmark", *argv], scale=preset)
    print(render(result))
    print(f"\nwrote {out / 'result.json'} ({result['bench_seconds']:.0f} s in all)")
    return 0 if all(r.get("success") for r in result["runs"].values()) else 1  # type: ignore[union-attr]


def _month(args: argparse.Namespace) -> int:
    from pipelines.tools.bench.month import bench_month, print_month

    result = bench_month(args.landing, args.month)
    print_month(result)
    print(json.dumps(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    net = sub.add_parser("network", help="floor, cold build, new month, GX vs SQL and targets for a network")
    add_network_arguments(net, default_scale="medium")  # the same size flags as `outcomes synth`
    net.add_argument("--out", type=Path,
                     help="output folder (default bench/<scale>): network, runs, result.json")
    net.add_argument("--no-full-cold", action="store_true",
                     help="skip the cold build of all N months; targets then use the N-1 month history")
    net.add_argument("--cold-only", action="store_true",
                     help="only the floor and the cold build of all N months (no history, new month or GX)")
    net.add_argument("--gx-repeat", type=int, default=2, help="GX and SQL timings: best of this many")
    net.add_argument("--profile-gx", action="store_true",
                     help="also time every GX expectation alone against its SQL predicate")
    net.add_argument("--keep", action="store_true", help="keep the runs' DuckDB files")
    net.add_argument("--label", help="free text stored in result.json (e.g. which source tree was measured)")
    net.add_argument("--engine", choices=ENGINES,
                     help="the engine dbt builds on in every run (OUTCOMES_ENGINE; default duckdb)")

    month = sub.add_parser("month", help="time ingest and validation of one export month")
    month.add_argument("--landing", required=True, type=Path)
    month.add_argument("--month", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "network":
        return _network(args, argv)
    return _month(args)


if __name__ == "__main__":
    raise SystemExit(main())
