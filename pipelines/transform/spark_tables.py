"""After a Spark build: its published tables read back into the build file, so that the publish
stage, the report and quality teams see the same DuckDB tables whichever engine built them.

Spark writes each table as Parquet files in a folder of its own (<tables>/<schema>.db/<table>/,
the layout of Spark's managed tables; <tables> is spark_tables() in pipelines/settings.py). The
tables of the schemas that are published (reference, marts, reporting) are replaced in the build
file from those files in one transaction; the models that always build on DuckDB (tag
runs_on_duckdb: data_quality and what reads it) are built there by dbt after this, and the
intermediate tables stay in Spark, as nothing after dbt reads them.

Types: Spark's timestamps are instants, which it writes in UTC (the session zone of the spark
target, dbt/profiles.yml); they become DuckDB's zone-less TIMESTAMP again in UTC, the clock
times the exports carried. Every other Parquet type reads back as the DuckDB build writes it
(counts BIGINT, rates DOUBLE, scores INTEGER), which the contracts of the marts check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines.sql import q, transaction

READ_BACK_SCHEMAS = ("reference", "marts", "reporting")  # the schemas publish copies, data_quality aside
DUCKDB_TAG = "runs_on_duckdb"  # dbt/dbt_project.yml: models built on DuckDB with either engine
TABLE_MATERIALIZATIONS = ("table", "incremental", "seed")


class SparkOutputError(RuntimeError):
    """A table the Spark build should have written is not there: the run stops before publish."""


@dataclass(frozen=True)
class ReadBack:
    schema: str
    table: str
    rows: int


def spark_built_tables(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(schema, table) of every seed and table model in the read-back schemas that Spark builds."""
    found = []
    for node in manifest.get("nodes", {}).values():
        config = node.get("config", {})
        if (node.get("resource_type") in ("model", "seed") and node.get("schema") in READ_BACK_SCHEMAS
                and config.get("materialized") in TABLE_MATERIALIZATIONS
                and DUCKDB_TAG not in node.get("tags", [])):
            found.append((node["schema"], node.get("alias") or node["name"]))
    return sorted(found)


def _parquet_files(folder: Path) -> str:
    """The glob of a table's data files; fails when there is none (a table Spark did not write)."""
    if not any(path for path in folder.rglob("*.parquet") if not path.name.startswith((".", "_"))):
        raise SparkOutputError(f"the Spark build wrote no Parquet files for {folder.parent.name[:-3]}."
                               f"{folder.name} (looked in {folder})")
    partitioned = any(child.is_dir() and "=" in child.name for child in folder.iterdir())
    pattern = f"{folder}/*/*.parquet" if partitioned else f"{folder}/*.parquet"
    return f"read_parquet('{pattern}', hive_partitioning = {str(partitioned).lower()})"


def read_back(con: duckdb.DuckDBPyConnection, tables_root: Path,
              manifest: Mapping[str, Any]) -> list[ReadBack]:
    """Replace the build file's copies of the Spark-built tables with what Spark wrote, in one
    transaction: readers of the build file see the old tables or the new ones, never a mix."""
    tables = spark_built_tables(manifest)
    sources = {(schema, table): _parquet_files(Path(tables_root) / f"{schema}.db" / table)
               for schema, table in tables}
    done = []
    with transaction(con):
        for (schema, table), source in sources.items():
            columns = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            select = ", ".join(
                f"timezone('UTC', {q(name)}) AS {q(name)}" if kind == "TIMESTAMP WITH TIME ZONE" else q(name)
                for name, kind, *_ in columns)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
            con.execute(f"CREATE OR REPLACE TABLE {q(schema)}.{q(table)} AS SELECT {select} FROM {source}")
            rows = con.execute(f"SELECT count(*) FROM {q(schema)}.{q(table)}").fetchone()[0]
            done.append(ReadBack(schema, table, int(rows)))
    return done
