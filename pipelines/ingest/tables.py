"""DDL of the tables the ingest stage writes: raw.<export>, raw.file_versions, raw.malformed_lines."""

from __future__ import annotations

import duckdb

from pipelines import contract
from pipelines.migrations import adopt_older_layout

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
    con.execute(
        """CREATE TABLE IF NOT EXISTS raw.malformed_lines (
            export VARCHAR, export_month VARCHAR, source_file VARCHAR, file_sha256 VARCHAR,
            line_number BIGINT, error_type VARCHAR, column_name VARCHAR, error_message VARCHAR,
            csv_line VARCHAR, quarantined_at TIMESTAMP
        )"""
    )
    adopt_older_layout(con)
