"""Load one landing file into its raw DuckDB table, as text, with lineage columns.

Raw tables keep every contract column as VARCHAR so that a bad value never fails a
whole file; typing and rule checks happen downstream on these rows. A month is
replaced in one transaction, so a failed load leaves the previous state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from pipelines import contract
from pipelines.ingest.discover import LandingFile, sha256_of

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("export_month", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("file_sha256", "VARCHAR"),
    ("line_number", "BIGINT"),
    ("ingested_at", "TIMESTAMP"),
)


class IngestError(ValueError):
    """A file that cannot be loaded; the message names the file (and column or line)."""


def describe_error(exc: Exception) -> str:
    """The first line of a DuckDB error: later lines can quote the offending row's values."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@dataclass(frozen=True)
class LoadResult:
    export: str
    month: str
    file: str
    sha256: str
    rows: int
    skipped_identical: bool


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, one text table per export and the file log, if missing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for exp in contract.CONTRACT.values():
        cols = [f"{_q(c)} VARCHAR" for c in exp.column_names]
        cols += [f"{name} {dtype}" for name, dtype in LINEAGE_COLUMNS]
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{exp.name} ({', '.join(cols)})")
    con.execute(
        """CREATE TABLE IF NOT EXISTS raw.file_versions (
            export VARCHAR, export_month VARCHAR, source_file VARCHAR, file_sha256 VARCHAR,
            size_bytes BIGINT, rows_read BIGINT, loaded_at TIMESTAMP, is_current BOOLEAN)"""
    )


def source_relation(con: duckdb.DuckDBPyConnection, file: LandingFile) -> str:
    """A DuckDB relation over the file with every column as text; checks the header first."""
    path = _lit(str(file.path))
    if file.is_parquet:
        relation = f"read_parquet({path})"
    else:
        relation = (
            f"read_csv({path}, header=true, delim=',', quote='\"', escape='\"', "
            "all_varchar=true, null_padding=false)"
        )
    try:
        header = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    except duckdb.Error as exc:
        raise IngestError(
            f"{file.path.name}: cannot be read as {file.export} export: {describe_error(exc)}"
        ) from None
    exp = contract.export(file.export)
    missing = [c for c in exp.required_columns if c not in header]
    if missing:
        raise IngestError(
            f"{file.path.name}: missing required column(s) {', '.join(missing)} "
            f"for the {file.export} export"
        )
    select = ", ".join(
        f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" if c in header else f"NULL::VARCHAR AS {_q(c)}"
        for c in exp.column_names
    )
    return f"(SELECT {select}, row_number() OVER () + 1 AS line_number FROM {relation})"


def load_file(con: duckdb.DuckDBPyConnection, file: LandingFile) -> LoadResult:
    """Replace the file's month in raw.<export> with the file's rows, unless the bytes are unchanged."""
    ensure_raw_tables(con)
    digest = sha256_of(file.path)
    current = con.execute(
        "SELECT file_sha256, rows_read FROM raw.file_versions "
        "WHERE export = ? AND export_month = ? AND is_current",
        [file.export, file.month],
    ).fetchone()
    if current and current[0] == digest:
        return LoadResult(file.export, file.month, file.path.name, digest, int(current[1]), True)

    relation = source_relation(con, file)
    exp = contract.export(file.export)
    columns = ", ".join(_q(c) for c in exp.column_names)
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM raw.{exp.name} WHERE export_month = ?", [file.month])
        con.execute(
            f"INSERT INTO raw.{exp.name} SELECT {columns}, ?, ?, ?, line_number, ? FROM {relation}",
            [file.month, file.path.name, digest, now],
        )
        rows = con.execute(
            f"SELECT count(*) FROM raw.{exp.name} WHERE export_month = ?", [file.month]
        ).fetchone()
        con.execute(
            "UPDATE raw.file_versions SET is_current = false WHERE export = ? AND export_month = ?",
            [file.export, file.month],
        )
        con.execute(
            "INSERT INTO raw.file_versions VALUES (?, ?, ?, ?, ?, ?, ?, true)",
            [file.export, file.month, file.path.name, digest, file.path.stat().st_size,
             rows[0] if rows else 0, now],
        )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        message = describe_error(exc)
        raise IngestError(f"{file.path.name}: load failed, previous state kept: {message}") from None
    loaded = int(rows[0]) if rows else 0
    return LoadResult(file.export, file.month, file.path.name, digest, loaded, False)
