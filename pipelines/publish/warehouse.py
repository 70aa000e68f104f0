"""Publish a read-only copy of the warehouse for readers, swapped in atomically.

DuckDB allows one writer or many readers, never both, so quality teams must not open the
file the pipeline writes (build.duckdb). After a successful build, the tables readers need
are copied into a brand-new file next to the published one, checkpointed, closed and
renamed over it with os.replace(): a reader that already holds the old file keeps its
consistent snapshot (the old inode), new readers see the new build, and a failed or killed
publish leaves only a temporary file behind, never a half-written outcomes.duckdb.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.publish.build_record import BuildRecord
from pipelines.publish.disclosure.gate import Audit, audit_reporting
from pipelines.publish.extracts import extracts_root, put_in_place, write_extracts
from pipelines.settings import publish_storage_version
from pipelines.sql import connect_in_memory, has_table, tables_of

PUBLISHED_NAME = "outcomes.duckdb"

# The schemas readers get, copied whole from the build; dbt writes every one of them
# (docs/architecture.md). marts: unsuppressed, for the internal quality team; reporting: small
# cells suppressed, for everything that leaves the team; reference: the seeds; data_quality:
# accounting, file versions and quarantine counts (no row values).
COPIED_SCHEMAS = ("marts", "reporting", "reference", "data_quality")


@dataclass(frozen=True)
class Published:
    path: Path
    build_id: str
    tables: int
    size_bytes: int
    extracts: Path  # the build's Parquet and CSV extracts (pipelines/publish/extracts.py)
    audit: Audit  # what the disclosure gate found and withheld (pipelines/publish/disclosure/gate.py)


def _remove_stale_temporaries(warehouse: Path) -> None:
    """Delete the new files (and WALs) of publishes that were killed: nothing else ever removes them.

    A file whose DuckDB lock is still held belongs to a publish that is running; it is left alone.
    """
    for path in warehouse.glob(f".{PUBLISHED_NAME}.*.tmp"):
        try:
            with path.open("rb+") as handle:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # DuckDB locks its files with fcntl
        except OSError:  # locked (running), or gone already (that publish just finished)
            continue
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)


def publish(
    build_db: Path, warehouse: Path, record: BuildRecord, log: Callable[[str], None] = print
) -> Published:
    """Copy the readers' tables from build_db into a new file and atomically replace the published one.

    `record`: the build as pipelines.publish.build_record recorded it in the build file: meta.build
    says which months it holds and whether it is synthetic (every report rendered from it says so
    too), meta.build_file_versions which file version of each export month. Before anything is
    put in place, the disclosure gate attacks the new file's `reporting` schema: it may withhold
    pooled counts, and raises DisclosureRefused (nothing replaced) when it cannot make it safe.
    """
    _remove_stale_temporaries(warehouse)
    target = warehouse / PUBLISHED_NAME
    build_id = record.build_id
    temporary = warehouse / f".{PUBLISHED_NAME}.{build_id}.tmp"
    count = 0
    try:
        # The new file is attached in the storage format of OUTCOMES_PUBLISH_STORAGE_VERSION (an
        # older DuckDB's, so that quality teams' 1.x clients open it), then made the default
        # database: everything below writes into it.
        with connect_in_memory(temporary) as con:
            con.execute(f"ATTACH '{temporary}' AS published (STORAGE_VERSION '{publish_storage_version()}')")
            con.execute("USE published")
            con.execute(f"ATTACH '{build_db}' AS build (READ_ONLY)")
            for schema in COPIED_SCHEMAS:
                con.execute(f"CREATE SCHEMA {schema}")
                for table in tables_of(con, schema, "build"):
                    con.execute(f'CREATE TABLE {schema}."{table}" AS SELECT * FROM build.{schema}."{table}"')
                    count += 1
            audit = audit_reporting(con, log)
            con.execute("CREATE SCHEMA meta")
            # Row counts of this build's tables: a reader can check that what it reads is one
            # consistent build (the load test does).
            con.execute(
                "CREATE TABLE meta.build_tables (schema_name VARCHAR, table_name VARCHAR, n_rows BIGINT)"
            )
            for schema, table in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() AND schema_name <> 'meta' ORDER BY ALL"
            ).fetchall():
                n_rows = con.execute(f'SELECT count(*) FROM {schema}."{table}"').fetchone()[0]
                con.execute("INSERT INTO meta.build_tables VALUES (?, ?, ?)", [schema, table, n_rows])
            con.execute(
                "CREATE TABLE meta.build AS SELECT ?::VARCHAR AS build_id, ?::TIMESTAMP AS built_at, "
                "?::VARCHAR AS dagster_run_id, ?::VARCHAR[] AS months, ?::BOOLEAN AS synthetic, "
                "?::VARCHAR AS reproduces",
                [build_id, record.built_at, record.run_id, record.months, record.synthetic,
                 record.reproduces],
            )
            con.execute(  # what the disclosure gate did: counts of cells and rows, never values
                "CREATE TABLE meta.disclosure_audit AS SELECT ?::INTEGER AS hidden_cells, "
                "?::INTEGER AS pools_withheld, ?::INTEGER AS rounds, ?::DOUBLE AS seconds",
                [audit.hidden_cells, audit.pools_withheld, audit.rounds, audit.seconds],
            )
            con.execute(
                "CREATE TABLE meta.build_file_versions (export VARCHAR, export_month VARCHAR, "
                "source_file VARCHAR, file_sha256 VARCHAR, rows_read BIGINT)")
            if has_table(con, "meta", "build_file_versions", "build"):
                con.execute(
                    "INSERT INTO meta.build_file_versions SELECT export, export_month, source_file, "
                    "file_sha256, rows_read FROM build.meta.build_file_versions WHERE build_id = ? "
                    "ORDER BY ALL", [build_id])
            con.execute("DETACH build")
            con.execute("CHECKPOINT")
        # Parquet and CSV extracts of the same new file, finished before either is put in place
        extracts = write_extracts(temporary, warehouse, build_id)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        wal = target.with_name(target.name + ".wal")
        if wal.exists():  # a WAL beside the new file would belong to the old one
            wal.unlink()
        extracts = put_in_place(extracts, build_id)
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
        for unfinished in extracts_root(warehouse).glob(f".{build_id}.tmp"):
            shutil.rmtree(unfinished, ignore_errors=True)
    return Published(target, build_id, count + 1, target.stat().st_size, extracts, audit)
