"""DDL of the tables the ingest stage writes: raw.<export>, raw.file_versions, raw.malformed_lines.

raw.<export> and raw.malformed_lines hold each month's current version only (what validate
reads). A re-delivery or a retraction moves the rows it replaces to raw.<export>_superseded and
raw.malformed_lines_superseded, with when and why, so every file version a past build held can
be read back and the build reproduced (pipelines/history/reproduce.py).
"""

from __future__ import annotations

import duckdb

from pipelines import contract
from pipelines.migrations import adopt_older_layout

SUPERSEDED_COLUMNS = "superseded_at TIMESTAMP, superseded_by VARCHAR"  # re-delivery | retraction

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("export_month", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("file_sha256", "VARCHAR"),
    ("line_number", "BIGINT"),
    ("ingested_at", "TIMESTAMP"),
)


def ensure_ingest_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ingest schemas and tables if missing (idempotent)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for exp in contract.CONTRACT.values():
        cols = [f'"{c}" VARCHAR' for c in exp.column_names]
        cols += [f"{name} {dtype}" for name, dtype in LINEAGE_COLUMNS]
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{exp.name} ({', '.join(cols)})")
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{exp.name}_superseded "
                    f"({', '.join(cols)}, {SUPERSEDED_COLUMNS})")
    con.execute(
        """CREATE TABLE IF NOT EXISTS raw.file_versions (
            export VARCHAR NOT NULL,
            export_month VARCHAR NOT NULL,
            source_file VARCHAR NOT NULL,
            file_sha256 VARCHAR NOT NULL,
            size_bytes BIGINT,
            records BIGINT,          -- data records read: accepted rows + malformed lines
            malformed BIGINT,        -- lines DuckDB's reader could not parse
            status VARCHAR NOT NULL, -- loaded | rejected
            reason VARCHAR,          -- why a file was rejected (never a row value)
            schema_drift VARCHAR[],  -- unknown harmless columns that were ignored
            recorded_at TIMESTAMP NOT NULL,
            is_current BOOLEAN NOT NULL
        )"""
    )
    # Whether the version came from a landing folder of generated exports: a build holding one is
    # marked synthetic, whatever the landing folder holds when it is published or reproduced.
    con.execute("ALTER TABLE raw.file_versions ADD COLUMN IF NOT EXISTS synthetic BOOLEAN DEFAULT false")
    con.execute(
        """CREATE TABLE IF NOT EXISTS raw.malformed_lines (
            export VARCHAR, export_month VARCHAR, source_file VARCHAR, file_sha256 VARCHAR,
            line_number BIGINT, error_type VARCHAR, column_name VARCHAR, error_message VARCHAR,
            csv_line VARCHAR, quarantined_at TIMESTAMP
        )"""
    )
    con.execute("CREATE TABLE IF NOT EXISTS raw.malformed_lines_superseded AS "
                "SELECT *, NULL::TIMESTAMP AS superseded_at, NULL::VARCHAR AS superseded_by "
                "FROM raw.malformed_lines WITH NO DATA")
    con.execute(
        """CREATE TABLE IF NOT EXISTS raw.retractions (
            export VARCHAR NOT NULL, export_month VARCHAR NOT NULL,
            source_file VARCHAR, file_sha256 VARCHAR, -- the version taken out (NULL: none was current)
            reason VARCHAR NOT NULL,                  -- the operator's words, checked for PHI first
            retracted_at TIMESTAMP NOT NULL
        )"""
    )
    adopt_older_layout(con)
