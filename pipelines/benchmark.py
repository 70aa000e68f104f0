"""Benchmarks, measured in one process run so figures can be compared as ratios on a noisy machine.

    python -m pipelines.benchmark month --landing DIR --month YYYY-MM [--repeat 3]

`month` times, for one export month: the floor (plain DuckDB read_csv of the three files
into tables), the ingest load (PHI guard, rejects, lineage, manifest), the validation
(typed staging, quarantine, accounting) and the GX suites, each against a fresh DuckDB
file, and prints a table plus JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from pipelines import contract
from pipelines.ingest.discover import discover
from pipelines.ingest.load import load_file
from pipelines.validate.gx_runner import run_suite
from pipelines.validate.quarantine import stage_month


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_month(landing: Path, month: str) -> dict[str, object]:
    """Time floor, load, validate and GX for one month; every step on its own fresh DuckDB file."""
    found = discover(landing)
    files = {e: found.file_for(e, month) for e in contract.EXPORTS}
    missing = [e for e, f in files.items() if f is None]
    if missing:
        raise SystemExit(f"no {', '.join(missing)} file for {month} in {landing}")
    rows: dict[str, int] = {}
    work = Path(tempfile.mkdtemp(prefix="bench_month_"))
    try:
        floor_db = duckdb.connect(str(work / "floor.duckdb"))

        def floor() -> None:
            for export_name, file in files.items():
                floor_db.execute(f"CREATE TABLE {export_name} AS SELECT * FROM read_csv('{file.path}')")

        timings = {"floor_read_csv": _timed(floor)}
        for export_name in contract.EXPORTS:
            rows[export_name] = floor_db.execute(f"SELECT count(*) FROM {export_name}").fetchone()[0]
        floor_db.close()

        db_path = work / "build.duckdb"
        con = duckdb.connect(str(db_path))
        timings["ingest_load"] = _timed(lambda: [load_file(con, f) for f in files.values()])
        timings["validate_stage"] = _timed(lambda: [stage_month(con, e, month) for e in contract.EXPORTS])
        con.close()
        timings["validate_gx"] = _timed(lambda: [run_suite(db_path, e, [month]) for e in contract.EXPORTS])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor_s = timings["floor_read_csv"]
    return {
        "month": month,
        "rows": rows,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "ratio_to_floor": {k: round(v / floor_s, 2) for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    month = sub.add_parser("month", help="time ingest and validation of one export month")
    month.add_argument("--landing", required=True, type=Path)
    month.add_argument("--month", required=True)
    args = parser.parse_args(argv)
    result = bench_month(args.landing, args.month)
    print(f"month {result['month']}: " + ", ".join(f"{k} {v:,}" for k, v in result["rows"].items()))
    for step, seconds in result["seconds"].items():
        print(f"  {step:<16} {seconds:>8.2f} s  {result['ratio_to_floor'][step]:>6.2f}x floor")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
