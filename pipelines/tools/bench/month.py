"""One export month, in process: floor read_csv vs ingest load vs validate stage vs GX suites.

Each step runs against its own fresh DuckDB file so that one step's cache does not flatter
the next; the figures are ratios to the floor measured a moment earlier in the same process.
"""

from __future__ import annotations

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


def print_month(result: dict[str, object]) -> None:
    """The month benchmark's table: seconds and ratio to the floor per step."""
    rows: dict[str, int] = result["rows"]  # type: ignore[assignment]
    seconds: dict[str, float] = result["seconds"]  # type: ignore[assignment]
    ratios: dict[str, float] = result["ratio_to_floor"]  # type: ignore[assignment]
    print(f"month {result['month']}: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    for step, value in seconds.items():
        print(f"  {step:<16} {value:>8.2f} s  {ratios[step]:>6.2f}x floor")
