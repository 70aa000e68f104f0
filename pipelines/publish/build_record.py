"""What a build holds, recorded in the build file: meta.builds and meta.build_file_versions.

A published build says exactly which months and which file version of each export month it
holds: the versions validate staged (dbt's data_quality.file_accounting), not the months the
run asked for nor the files in landing, which is an inbox (a file removed from it stays in the
warehouse until it is retracted). The build file keeps one row per build, so a past build can
be reproduced from the versions kept in raw.<export> and raw.<export>_superseded
(`outcomes reproduce`, pipelines/history/reproduce.py).

Written by the publish asset before the published file is swapped in: a build that was
recorded but not published (killed in between) is harmless, and can still be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines.sql import transaction

REPRODUCES_TAG = "outcomes/reproduces"  # on a run made by `outcomes reproduce`: the build it rebuilds


@dataclass(frozen=True)
class BuildRecord:
    build_id: str
    built_at: datetime
    run_id: str
    months: list[str]
    synthetic: bool
    reproduces: str | None


def ensure_meta_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(
        """CREATE TABLE IF NOT EXISTS meta.builds (
            build_id VARCHAR PRIMARY KEY, built_at TIMESTAMP NOT NULL, dagster_run_id VARCHAR NOT NULL,
            months VARCHAR[] NOT NULL,  -- every month of which the build holds a file version
            synthetic BOOLEAN NOT NULL, -- a version it holds came from generated exports
            reproduces VARCHAR          -- the build this one reproduces (outcomes reproduce), else NULL
        )"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS meta.build_file_versions (
            build_id VARCHAR NOT NULL, export VARCHAR NOT NULL, export_month VARCHAR NOT NULL,
            source_file VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL, rows_read BIGINT NOT NULL
        )"""
    )


def record_build(con: duckdb.DuckDBPyConnection, build_id: str, built_at: datetime, run_id: str,
                 landing_synthetic: bool, reproduces: str | None) -> BuildRecord:
    """Record the build in the build file (one transaction) from dbt's data_quality tables."""
    ensure_meta_tables(con)
    with transaction(con):
        con.execute(
            "INSERT INTO meta.build_file_versions SELECT ?, export, export_month, source_file, file_sha256, "
            "rows_read FROM data_quality.file_accounting", [build_id])
        months = [m for (m,) in con.execute(
            "SELECT DISTINCT export_month FROM meta.build_file_versions WHERE build_id = ? ORDER BY 1",
            [build_id]).fetchall()]
        held_synthetic = con.execute(
            "SELECT coalesce(bool_or(v.synthetic), false) FROM data_quality.file_versions v "
            "JOIN meta.build_file_versions b USING (export, export_month, file_sha256) "
            "WHERE b.build_id = ? AND v.status = 'loaded'", [build_id]).fetchone()[0]  # type: ignore[index]
        record = BuildRecord(build_id, built_at, run_id, months, bool(landing_synthetic or held_synthetic),
                             reproduces)
        con.execute("INSERT INTO meta.builds VALUES (?, ?, ?, ?, ?, ?)",
                    [build_id, built_at, run_id, months, record.synthetic, reproduces])
    return record
