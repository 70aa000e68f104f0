"""The staging lake (pipelines/validate/lake.py) and the read-back of a Spark build's tables
(pipelines/transform/spark_tables.py), on hand-made warehouses: no Spark needed here (the Spark
build itself is tests/test_spark_engine.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.settings import SettingsError, engine, spark_available, spark_target
from pipelines.transform.spark_tables import SparkOutputError, read_back, spark_built_tables
from pipelines.validate.lake import NO_ROWS, partition_path, staging_lake, sync_lake


def make_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.vitals (session_id VARCHAR, value DOUBLE, measured_at TIMESTAMP, "
                "export_month VARCHAR, source_file VARCHAR, line_number BIGINT)")
    con.executemany("INSERT INTO staging.vitals VALUES (?, ?, ?, ?, 'vitals.csv', ?)", [
        ("s1", 120.0, datetime(2025, 1, 31, 23, 30), "2025-01", 2),
        ("s1", 125.0, datetime(2025, 2, 1, 0, 10), "2025-02", 2),
        ("s2", 118.5, datetime(2025, 2, 3, 9, 0), "2025-02", 3),
    ])


def lake_rows(warehouse: Path) -> list[tuple]:
    with duckdb.connect() as con:
        return sorted(con.execute(
            f"SELECT session_id, value, measured_at, export_month, month FROM read_parquet("
            f"'{staging_lake(warehouse)}/vitals/*/*.parquet', hive_partitioning = true, "
            "hive_types = {'month': 'VARCHAR'})").fetchall())


def test_the_lake_holds_exactly_the_staged_rows_by_month(tmp_path: Path) -> None:
    killed = staging_lake(tmp_path) / ".incoming-vitals-999999"  # a killed run's unfinished write
    killed.mkdir(parents=True)
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        make_staging(con)
        first = sync_lake(con, tmp_path, "vitals")
        assert not killed.exists()
        assert (first.written, first.removed) == (["2025-01", "2025-02"], [])
        assert lake_rows(tmp_path) == sorted(
            (s, v, t, m, m) for s, v, t, m in con.execute(
                "SELECT session_id, value, measured_at, export_month FROM staging.vitals").fetchall())
        # nothing changed: nothing written, the file untouched
        stamp = partition_path(tmp_path, "vitals", "2025-01").stat().st_mtime_ns
        assert sync_lake(con, tmp_path, "vitals").written == []
        assert partition_path(tmp_path, "vitals", "2025-01").stat().st_mtime_ns == stamp
        # one value corrected in February: only February is rewritten
        con.execute("UPDATE staging.vitals SET value = 119.0 WHERE session_id = 's2'")
        assert sync_lake(con, tmp_path, "vitals").written == ["2025-02"]
        assert ("s2", 119.0) in [(r[0], r[1]) for r in lake_rows(tmp_path)]
        # January retracted: its partition goes
        con.execute("DELETE FROM staging.vitals WHERE export_month = '2025-01'")
        assert sync_lake(con, tmp_path, "vitals").removed == ["2025-01"]
        assert not partition_path(tmp_path, "vitals", "2025-01").parent.exists()
        # a partition deleted behind the pipeline's back is written again
        partition_path(tmp_path, "vitals", "2025-02").unlink()
        assert sync_lake(con, tmp_path, "vitals").written == ["2025-02"]
        assert len(lake_rows(tmp_path)) == 2
        # no staged row at all: one empty file, so that readers still find the columns
        con.execute("DELETE FROM staging.vitals")
        sync_lake(con, tmp_path, "vitals")
        assert lake_rows(tmp_path) == []
        assert partition_path(tmp_path, "vitals", NO_ROWS).exists()
        con.execute("INSERT INTO staging.vitals VALUES ('s3', 99.0, '2025-03-01 10:00', '2025-03', "
                    "'v.csv', 2)")
        sync_lake(con, tmp_path, "vitals")
        assert not partition_path(tmp_path, "vitals", NO_ROWS).exists()
        assert [r[0] for r in lake_rows(tmp_path)] == ["s3"]
    assert not list(staging_lake(tmp_path).glob(".incoming-*"))  # no temporary folder left behind


def write_spark_like(root: Path) -> None:
    """Parquet folders as Spark writes its managed tables: <schema>.db/<table>/part-*.parquet, a
    partitioned one in <column>=<value> folders, times as UTC instants."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'America/Chicago'")  # the reading machine's zone must not matter
        (root / "marts.db" / "response_rates").mkdir(parents=True)
        con.execute(f"""COPY (SELECT 'ALL' AS site_id, 3::BIGINT AS n_met, 0.5::DOUBLE AS rate,
            TIMESTAMPTZ '2025-01-31 23:30:00+00' AS computed_at)
            TO '{root}/marts.db/response_rates/part-00000.snappy.parquet' (FORMAT parquet)""")
        (root / "marts.db" / "response_rates" / "_SUCCESS").touch()
        (root / "reference.db").mkdir()
        con.execute(f"""COPY (SELECT 'x' AS term, '2025-01' AS month) TO '{root}/reference.db/terms'
            (FORMAT parquet, PARTITION_BY (month))""")


def node(kind: str, schema: str, name: str, materialized: str, tags: tuple[str, ...] = ()) -> dict:
    return {"resource_type": kind, "schema": schema, "alias": name.split("_", 1)[-1] if kind == "model"
            and schema != "marts" else name, "name": name, "config": {"materialized": materialized},
            "tags": list(tags)}


MANIFEST = {"nodes": {
    "model.outcomes.response_rates": node("model", "marts", "response_rates", "table"),
    "seed.outcomes.terms": node("seed", "reference", "terms", "seed"),
    "model.outcomes.stg_vitals": node("model", "stg", "stg_vitals", "view"),
    "model.outcomes.reporting_x": node("model", "reporting", "reporting_x", "table", ("runs_on_duckdb",)),
}}


def test_spark_tables_are_read_back_with_duckdb_types(tmp_path: Path) -> None:
    assert spark_built_tables(MANIFEST) == [("marts", "response_rates"), ("reference", "terms")]
    write_spark_like(tmp_path / "tables")
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.response_rates AS SELECT 'old' AS site_id")
        read = read_back(con, tmp_path / "tables", MANIFEST)
        assert [(r.schema, r.table, r.rows) for r in read] == [("marts", "response_rates", 1),
                                                               ("reference", "terms", 1)]
        assert con.execute("SELECT * FROM marts.response_rates").fetchall() == [
            ("ALL", 3, 0.5, datetime(2025, 1, 31, 23, 30))]  # the UTC clock time, zone-less again
        assert [r[1] for r in con.execute("DESCRIBE marts.response_rates").fetchall()] == [
            "VARCHAR", "BIGINT", "DOUBLE", "TIMESTAMP"]
        assert con.execute("SELECT term, month FROM reference.terms").fetchall() == [("x", "2025-01")]


def test_a_table_spark_did_not_write_stops_the_read_back(tmp_path: Path) -> None:
    write_spark_like(tmp_path / "tables")
    for part in (tmp_path / "tables" / "marts.db" / "response_rates").glob("*.parquet"):
        part.unlink()
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.response_rates AS SELECT 'old' AS site_id")
        with pytest.raises(SparkOutputError, match=r"no Parquet files for marts\.response_rates"):
            read_back(con, tmp_path / "tables", MANIFEST)
        # nothing replaced: the build file keeps its tables
        assert con.execute("SELECT site_id FROM marts.response_rates").fetchall() == [("old",)]
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'reference'"
                           ).fetchone() == (0,)


def test_the_engine_settings_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OUTCOMES_ENGINE", raising=False)
    assert engine() == "duckdb"
    monkeypatch.setenv("OUTCOMES_ENGINE", "Spark")
    assert engine() == "spark"
    monkeypatch.setenv("OUTCOMES_ENGINE", "sparc")
    with pytest.raises(SettingsError, match="'sparc' is not an engine: expected duckdb or spark"):
        engine()
    monkeypatch.setenv("OUTCOMES_SPARK_TARGET", "local")
    with pytest.raises(SettingsError, match="not a Spark target"):
        spark_target()
    spark_available()  # this machine has both (./dev setup)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    with pytest.raises(SettingsError, match=r"needs Java 17 or later on the PATH: \./dev setup installs"):
        spark_available()
