"""GX validation against the same rules as plain DuckDB SQL, over the same rows, side by side.

The SQL side is derived from the stored suites themselves (expectations/<export>.json), not
from a second copy of the rules: every expectation becomes the SQL predicate that is TRUE for
an unexpected row, over the very batch query GX validates (`gx_runner.batch_query`), and all
predicates of an export are counted in one aggregate query (plus one GROUP BY for duplicate
keys), on a connection with the DuckDB settings GX's connection gets. So the ratio is GX's own
cost (context, datasource, one query per metric, result objects) for identical work, and the
counts are cross-checked against GX's. Each side runs in a fresh process, which also gives
each side's peak memory.

`profile_expectations` times each expectation alone (a suite of the row count plus that one
expectation, minus the row count alone) next to its predicate alone in SQL: the evidence for
which expectations cost most.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines import contract
from pipelines.settings import PROJECT_ROOT
from pipelines.sql import q
from pipelines.validate import gx_suites
from pipelines.validate.gx_runner import batch_query, run_suite

_BATCH_WHERE = "FROM {batch} WHERE "


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _where_of(query: str) -> str:
    """The predicate of an unexpected-rows query over {batch} (braces un-doubled)."""
    if _BATCH_WHERE not in query:
        raise ValueError("unexpected-rows query without 'FROM {batch} WHERE'")
    where = query.split(_BATCH_WHERE, 1)[1]
    return where.replace("{{", "{").replace("}}", "}")


def expectation_sql(expectation: dict[str, Any]) -> tuple[str, str]:
    """(kind, sql) for one stored expectation: kind "predicate" (count_if), "rows" or "duplicates"."""
    kind, kwargs = expectation["type"], expectation["kwargs"]
    if kind == "expect_table_row_count_to_be_between":
        return "rows", "count(*)"
    if kind == "expect_column_values_to_not_be_null":
        return "predicate", f"{q(kwargs['column'])} IS NULL"
    if kind == "expect_column_values_to_be_null":  # a rule column of gx_suites.flag_columns
        return "predicate", f"{q(kwargs['column'])} IS NOT NULL"
    if kind == "expect_column_values_to_be_in_set":
        values = ", ".join(_literal(v) for v in kwargs["value_set"])
        col = q(kwargs["column"])
        return "predicate", f"{col} IS NOT NULL AND {col} NOT IN ({values})"
    if kind == "expect_column_values_to_be_between":
        col = q(kwargs["column"])
        conds = []
        if kwargs.get("min_value") is not None:
            conds.append(f"{col} {'<=' if kwargs.get('strict_min') else '<'} {kwargs['min_value']}")
        if kwargs.get("max_value") is not None:
            conds.append(f"{col} {'>=' if kwargs.get('strict_max') else '>'} {kwargs['max_value']}")
        return "predicate", f"{col} IS NOT NULL AND ({' OR '.join(conds)})"
    if kind == "unexpected_rows_expectation":
        return "predicate", _where_of(kwargs["unexpected_rows_query"])
    if kind == "expect_column_values_to_be_unique":
        return "duplicates", q(kwargs["column"])
    if kind == "expect_compound_columns_to_be_unique":
        return "duplicates", ", ".join(q(c) for c in kwargs["column_list"])
    raise ValueError(f"no SQL equivalent for expectation type {kind}")


def suite_expectations(export: str, suite_dir: Path = gx_suites.SUITE_DIR) -> list[dict[str, Any]]:
    return json.loads(gx_suites.suite_path(export, suite_dir).read_text(encoding="utf-8"))["expectations"]


def sql_counts(con: duckdb.DuckDBPyConnection, export: str, months: list[str], now: datetime,
               only: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Unexpected rows per rule id for the suite's expectations, as plain SQL over GX's batch."""
    batch = f"({batch_query(export, months, now)}) AS batch"
    aggregates: list[tuple[str, str]] = []
    duplicates: list[tuple[str, str]] = []
    for expectation in only if only is not None else suite_expectations(export):
        rule = expectation["meta"]["rule"]
        kind, sql = expectation_sql(expectation)
        if kind == "rows":
            aggregates.append((rule, "count(*)"))
        elif kind == "predicate":
            aggregates.append((rule, f"count_if({sql})"))
        else:
            duplicates.append((rule, sql))
    counts: dict[str, int] = {}
    if aggregates:
        row = con.execute(f"SELECT {', '.join(sql for _, sql in aggregates)} FROM {batch}").fetchone()
        counts.update({rule: int(n) for (rule, _), n in zip(aggregates, row, strict=True)})
    for rule, cols in duplicates:
        found = con.execute(f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {batch} "
                            f"GROUP BY {cols} HAVING count(*) > 1)").fetchone()
        counts[rule] = int(found[0]) if found else 0
    return counts


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(wall, CPU, value) of the fastest of `repeat` calls; CPU is this process's, all threads."""
    best, best_cpu, value = float("inf"), 0.0, None
    for _ in range(max(repeat, 1)):
        started, cpu_started = time.perf_counter(), time.process_time()
        value = fn()
        wall = time.perf_counter() - started
        if wall < best:
            best, best_cpu = wall, time.process_time() - cpu_started
    return best, best_cpu, value


def gx_connection_config(db_path: Path) -> dict[str, str]:
    """The DuckDB settings GX's connection gets in the pipeline (memory cap, spill folder): the SQL
    twin runs under the same ones so that the comparison is about GX, not about DuckDB settings."""
    from pipelines.sql import connection_config

    return connection_config(db_path)


def measure_side(db_path: Path, export: str, months: list[str], now: datetime, side: str
                 ) -> dict[str, object]:
    """One timed validation of one export, GX ("gx") or plain SQL ("sql"): wall, CPU, counts per rule."""
    started, cpu_started = time.perf_counter(), time.process_time()
    if side == "gx":
        outcome = run_suite(db_path, export, months, now)
        counts = {o.rule: o.unexpected_count for o in outcome.outcomes}
        counts[gx_suites.ROW_COUNT_RULE] = max((o.element_count for o in outcome.outcomes), default=0)
    else:
        with duckdb.connect(str(db_path), read_only=True, config=gx_connection_config(db_path)) as con:
            counts = sql_counts(con, export, months, now)
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu_started, "counts": counts}


def _side_in_child(db_path: Path, months: list[str], now: datetime, side: str) -> dict[str, object]:
    """`measure_side` for every export in a fresh interpreter: one side never inherits the other's
    memory or caches, and the child's own peak RSS (GX and DuckDB buffers included) is the side's."""
    command = [sys.executable, "-m", "pipelines.tools.bench.gxsql", "--db", str(db_path),
               "--months", ",".join(months), "--now", now.isoformat(), "--side", side]
    env = {**os.environ, "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} validation failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gx_vs_sql(db_path: Path, months: list[str], repeat: int = 2) -> dict[str, object]:
    """Every export's GX suite (as the asset checks run them) against its plain-SQL twin, best of `repeat`.

    Each side runs in its own fresh process per repeat (GX, then SQL, alternating), so neither
    figure depends on what ran before it in a process that keeps its memory.
    """
    now = datetime.now()
    best: dict[str, dict[str, dict[str, object]]] = {"gx": {}, "sql": {}}
    peaks = {"gx": 0, "sql": 0}
    for _ in range(max(repeat, 1)):
        for side in ("gx", "sql"):
            got = _side_in_child(db_path, months, now, side)
            peaks[side] = max(peaks[side], int(got["peak_rss_bytes"]))  # type: ignore[call-overload]
            for export, figures in got["exports"].items():  # type: ignore[union-attr]
                if export not in best[side] or figures["wall"] < best[side][export]["wall"]:
                    best[side][export] = figures
    per_export: dict[str, dict[str, object]] = {}
    totals = {"gx": 0.0, "sql": 0.0, "gx_cpu": 0.0, "sql_cpu": 0.0}
    for export in contract.EXPORTS:
        gx, sql = best["gx"][export], best["sql"][export]
        gx_counts: dict[str, int] = gx["counts"]  # type: ignore[assignment]
        counts: dict[str, int] = sql["counts"]  # type: ignore[assignment]
        mismatched = sorted(r for r in gx_counts if counts.get(r) != gx_counts[r])
        gx_s, sql_s = float(gx["wall"]), float(sql["wall"])  # type: ignore[arg-type]
        gx_cpu, sql_cpu = float(gx["cpu"]), float(sql["cpu"])  # type: ignore[arg-type]
        per_export[export] = {
            "rows": gx_counts.get(gx_suites.ROW_COUNT_RULE),
            "expectations": len(gx_counts),
            "gx_seconds": round(gx_s, 3),
            "sql_seconds": round(sql_s, 3),
            "ratio": round(gx_s / sql_s, 2) if sql_s > 0 else None,
            "gx_cpu_seconds": round(gx_cpu, 3),
            "sql_cpu_seconds": round(sql_cpu, 3),
            "unexpected_rows_total": sum(v for r, v in counts.items() if r != gx_suites.ROW_COUNT_RULE),
            "counts_agree": not mismatched,
            "mismatched_rules": mismatched,
        }
        totals["gx"] += gx_s
        totals["sql"] += sql_s
        totals["gx_cpu"] += gx_cpu
        totals["sql_cpu"] += sql_cpu
    return {
        "months": len(months),
        "repeat": repeat,
        "gx_seconds": round(totals["gx"], 3),
        "sql_seconds": round(totals["sql"], 3),
        "ratio": round(totals["gx"] / totals["sql"], 2) if totals["sql"] > 0 else None,
        "gx_cpu_seconds": round(totals["gx_cpu"], 3),
        "sql_cpu_seconds": round(totals["sql_cpu"], 3),
        "cpu_ratio": round(totals["gx_cpu"] / totals["sql_cpu"], 2) if totals["sql_cpu"] > 0 else None,
        "gx_peak_rss_bytes": peaks["gx"],
        "sql_peak_rss_bytes": peaks["sql"],
        "duckdb_config": gx_connection_config(db_path),
        "per_export": per_export,
    }


def profile_expectations(db_path: Path, months: list[str], repeat: int = 1) -> list[dict[str, object]]:
    """Seconds per expectation in GX (alone with the row count, minus the row count alone) and in SQL."""
    now = datetime.now()
    work = Path(tempfile.mkdtemp(prefix="bench_gx_"))
    out: list[dict[str, object]] = []
    try:
        for export in contract.EXPORTS:
            stored = json.loads(gx_suites.suite_path(export).read_text(encoding="utf-8"))
            expectations = stored["expectations"]
            row_count = [x for x in expectations if x["meta"]["rule"] == gx_suites.ROW_COUNT_RULE]

            def gx_time(subset: list[dict[str, Any]], e: str = export, s: dict = stored) -> float:
                folder = work / f"{len(subset)}_{time.monotonic_ns()}"
                folder.mkdir()
                (folder / f"{e}.json").write_text(json.dumps({**s, "expectations": subset}), encoding="utf-8")
                return _best(lambda: run_suite(db_path, e, months, now, suite_dir=folder), repeat)[0]

            def sql_time(subset: list[dict[str, Any]], e: str = export) -> float:
                config = gx_connection_config(db_path)
                with duckdb.connect(str(db_path), read_only=True, config=config) as con:
                    return _best(lambda: sql_counts(con, e, months, now, only=subset), repeat)[0]

            gx_base, sql_base = gx_time(row_count), sql_time(row_count)
            for expectation in expectations:
                if expectation["meta"]["rule"] == gx_suites.ROW_COUNT_RULE:
                    continue
                gx_s = gx_time([*row_count, expectation]) - gx_base
                sql_s = sql_time([expectation])
                out.append({
                    "export": export,
                    "rule": expectation["meta"]["rule"],
                    "expectation": expectation["type"],
                    "gx_seconds": round(gx_s, 3),
                    "sql_seconds": round(sql_s, 3),
                })
            out.append({"export": export, "rule": "(GX fixed cost: row count alone)",
                        "expectation": "expect_table_row_count_to_be_between",
                        "gx_seconds": round(gx_base, 3), "sql_seconds": round(sql_base, 3)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.sort(key=lambda r: r["gx_seconds"], reverse=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Child entry of `gx_vs_sql`: one side, every export; prints JSON (wall, CPU, counts; peak RSS)."""
    import warnings

    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(prog="python -m pipelines.tools.bench.gxsql")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--months", required=True, help="comma-separated YYYY-MM")
    parser.add_argument("--now", required=True, help="ISO time bounding the in-future rules")
    parser.add_argument("--side", required=True, choices=("gx", "sql"))
    args = parser.parse_args(argv)
    now, months = datetime.fromisoformat(args.now), args.months.split(",")
    exports = {e: measure_side(args.db, e, months, now, args.side) for e in contract.EXPORTS}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({"exports": exports, "peak_rss_bytes": peak}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
