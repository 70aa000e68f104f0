"""Child process of the benchmark: one main-job run for a month range, as the landing sensor requests it.

    python -m pipelines.tools.bench.run_months --landing L --warehouse W --reports R --first M [--last M]

The landing sensor asks for a run of the main job tagged with the partition range of the
months whose files changed; `run_main_job` starts exactly that run (in process, on the
instance in DAGSTER_HOME), so this is `outcomes run` restricted to the new month(s).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

from pipelines.settings import load_settings


def month_range(first: str, last: str) -> list[str]:
    """Every YYYY-MM month from first to last, inclusive."""
    y, m = (int(p) for p in first.split("-"))
    ly, lm = (int(p) for p in last.split("-"))
    months = []
    while (y, m) <= (ly, lm):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    parser = argparse.ArgumentParser(prog="python -m pipelines.tools.bench.run_months", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("--landing", "--warehouse", "--reports", "--first"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--last", help="last month of the range (default: --first)")
    args = parser.parse_args(argv)
    settings = load_settings(args.landing, args.warehouse, args.reports)
    Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))).mkdir(parents=True, exist_ok=True)

    from pipelines.run import run_main_job

    started = time.perf_counter()
    summary = run_main_job(settings, month_range(args.first, args.last or args.first))
    print(summary.render(time.perf_counter() - started))
    return 0 if summary.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
