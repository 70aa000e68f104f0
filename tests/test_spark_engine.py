"""The same dbt marts on Apache Spark (docs/scale-out.md): the tiny network built by `outcomes run
--engine spark` on a local Spark equals the shared DuckDB build, table by table and cell by cell.

One Spark build for the suite (a JVM starts per dbt call, about 35 s here). It fails, never
skips, when Java or pyspark is missing: `./dev setup` installs both.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from typing import Any

import duckdb
import pytest

from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.run import DBT_TARGET
from pipelines.settings import spark_available
from tests.conftest import TinyBuild, build_by_cli

COMPARED = ("marts", "reporting", "reference", "data_quality")
# data_quality is built on DuckDB in both modes; these of its columns say when a file was seen
RUN_TIMES = {"recorded_at", "checked_at", "retracted_at"}


def table_rows(con: duckdb.DuckDBPyConnection, database: str, schema: str,
               table: str) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    columns = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
                          "AND schema_name = ? AND table_name = ? ORDER BY column_index",
                          [database, schema, table]).fetchall()
    kept = [name for name, _ in columns if name not in RUN_TIMES]
    selected = ", ".join(f'"{name}"' for name in kept)
    rows = con.execute(f'SELECT {selected} FROM {database}.{schema}."{table}"').fetchall()
    return columns, sorted(rows, key=repr)


def same_cell(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or abs(left - right) <= 1e-12
    return bool(left == right)


@pytest.fixture(scope="module")
def spark_build(tiny_build: TinyBuild, tmp_path_factory: pytest.TempPathFactory) -> TinyBuild:
    """The tiny network's landing, built with --engine spark in folders of its own."""
    spark_available()  # Java 17 and pyspark: fails here, saying what is missing, not inside dbt

    before = os.environ.get("OUTCOMES_ENGINE")
    built = build_by_cli(tmp_path_factory.mktemp("spark_build"), tiny_build.landing, "--engine", "spark")
    # the tests after this one build on DuckDB again (a leaked engine once made the UI test's run Spark's)
    assert os.environ.get("OUTCOMES_ENGINE") == before
    return built


@pytest.mark.slow
def test_spark_builds_the_same_marts_as_duckdb(tiny_build: TinyBuild, spark_build: TinyBuild) -> None:
    warehouse, printed = spark_build.warehouse, spark_build.printed
    # every check ran and passed, as many as on DuckDB (dbt's data tests on Spark, the
    # data_quality ones on DuckDB, the pipeline's own)
    checks = re.compile(r"checks: (\d+) passed, 0 warnings, 0 failed")
    found, expected = checks.search(printed), checks.search(tiny_build.printed)
    assert found and expected, printed[-2000:]
    assert found.group(1) == expected.group(1)

    differences: list[str] = []
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{tiny_build.warehouse / PUBLISHED_NAME}' AS on_duckdb (READ_ONLY)")
        con.execute(f"ATTACH '{warehouse / PUBLISHED_NAME}' AS on_spark (READ_ONLY)")
        for schema in COMPARED:
            names = {db: {row[0] for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
                [db, schema]).fetchall()} for db in ("on_duckdb", "on_spark")}
            assert names["on_duckdb"] and names["on_duckdb"] == names["on_spark"], schema
            for table in sorted(names["on_duckdb"]):
                left_columns, left = table_rows(con, "on_duckdb", schema, table)
                right_columns, right = table_rows(con, "on_spark", schema, table)
                if left_columns != right_columns:
                    differences.append(f"{schema}.{table}: columns {left_columns} != {right_columns}")
                elif len(left) != len(right):
                    differences.append(f"{schema}.{table}: {len(left)} rows != {len(right)}")
                else:
                    cells = sum(not same_cell(a, b) for x, y in zip(left, right, strict=True)
                                for a, b in zip(x, y, strict=True))
                    if cells:
                        differences.append(f"{schema}.{table}: {cells} cells differ")
    assert differences == []


@pytest.mark.slow
def test_the_spark_build_ran_on_spark(spark_build: TinyBuild) -> None:
    """Not DuckDB under another name: Spark wrote every published mart as Parquet (but the
    Kaplan-Meier curves, a Python model built on DuckDB from relapse_times read back) and dbt's
    manifests name the Spark adapter; Spark's own log stayed off."""
    warehouse, printed = spark_build.warehouse, spark_build.printed
    tables = warehouse / "spark" / "tables"
    with duckdb.connect(str(warehouse / PUBLISHED_NAME), read_only=True) as con:
        marts = [row[0] for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()]
    on_duckdb = {"relapse_survival"}  # tagged runs_on_duckdb in dbt/dbt_project.yml
    assert on_duckdb <= set(marts)
    assert marts and all(list((tables / "marts.db" / name).glob("*.parquet")) for name in marts
                         if name not in on_duckdb)
    assert not (tables / "marts.db" / "relapse_survival").exists()
    # incremental models are partitioned by month on Spark
    assert list((tables / "intermediate.db" / "session_vitals__aggregated").glob("session_month=*"))
    run = re.search(r"^run ([0-9a-f-]{36}): SUCCESS", printed, re.M)
    assert run, printed[-2000:]
    adapters = {json.loads(manifest.read_text())["metadata"]["adapter_type"]
                for manifest in DBT_TARGET.glob(f"dbt_build-{run.group(1)[:7]}-*/manifest.json")}
    assert adapters == {"spark", "duckdb"}  # the models on Spark, data_quality on DuckDB
    # Spark logged nothing (its messages can quote row values: dbt/spark/log4j2.properties)
    assert not [p for p in (warehouse / "spark").rglob("*.log") if p.name != "derby.log" and p.stat().st_size]


def test_pyspark_does_not_end_a_process_whose_main_module_has_no_file() -> None:
    """Dagster's step processes start from a forkserver (`python -c ...`): with pyspark installed,
    GX's import of Spark Connect used to end them with exit code 0 (pyspark took them for a
    doctest run), and every run launched from the UI died in its first validate step."""
    done = subprocess.run([sys.executable, "-c", "import pipelines.definitions; print('alive')"],
                          capture_output=True, text=True, check=False, timeout=300)
    assert (done.returncode, done.stdout.strip().splitlines()[-1:]) == (0, ["alive"]), done.stderr[-2000:]
