"""Extracts of each published build for tools that do not speak DuckDB (issue #25).

Beside outcomes.duckdb, each build writes `<warehouse>/extracts/<build id>/`:
- `reporting/<table>.parquet` and `reporting/<table>.csv`: the suppressed tables, what may leave the
  quality team. The CSV is safe to open in a spreadsheet: a text cell that starts with `=`, `+`, `-`,
  `@`, a tab or a carriage return (a formula to Excel, LibreOffice, Google Sheets) is written with a
  leading apostrophe (OWASP's advice on CSV injection); lists are written as `a;b` text.
- `internal/marts/<table>.parquet`: the unsuppressed marts, marked internal by their folder and by the
  `README.txt` beside them: for the quality team only, like the `marts` schema.
- `manifest.json`: the build, and per file its table, rows and SHA-256.

The folder is written under a temporary name and renamed into place (one rename, as the database
file is), so a reader sees a build's extracts whole or not at all; `publish` writes them from the
new file before it replaces the published one, so a failure publishes neither. Older builds'
extracts are removed, the newest KEEP_BUILDS kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import duckdb

from pipelines.files import sha256_of
from pipelines.sql import connect, q, tables_of

EXTRACTS = "extracts"
KEEP_BUILDS = 3
SPREADSHEET_FORMULA_START = "^[=+\\-@\t\r]"  # OWASP CSV injection: these make a cell a formula
INTERNAL_NOTE = ("INTERNAL: unsuppressed marts with small cells and patient- and session-level rows.\n"
                 "For the quality team only; never send these files outside it. Use ../../reporting/.\n")
BUILD_ID = re.compile(r"^[0-9a-f-]{8,64}$")


def extracts_root(warehouse: Path) -> Path:
    return warehouse / EXTRACTS


def write_extracts(published_file: Path, warehouse: Path, build_id: str) -> Path:
    """Write a build's extracts into a temporary folder; returns it (publish renames it into place)."""
    if not BUILD_ID.match(build_id):
        raise ValueError("a build id is a UUID")
    root = extracts_root(warehouse)
    staging = root / f".{build_id}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "reporting").mkdir(parents=True)
    (staging / "internal" / "marts").mkdir(parents=True)
    files: list[dict[str, object]] = []
    with connect(published_file, read_only=True) as con:
        # each table's rows as publish counted them into the new file
        counts = {(schema, table): rows for schema, table, rows in con.execute(
            "SELECT schema_name, table_name, n_rows FROM meta.build_tables").fetchall()}
        for schema, folder, formats in (("reporting", staging / "reporting", ("parquet", "csv")),
                                        ("marts", staging / "internal" / "marts", ("parquet",))):
            for table in tables_of(con, schema):
                rows = counts[(schema, table)]
                for kind in formats:
                    path = folder / f"{table}.{kind}"
                    _copy(con, schema, table, path, kind)
                    files.append({"file": str(path.relative_to(staging)), "table": f"{schema}.{table}",
                                  "rows": rows, "sha256": sha256_of(path)})
    (staging / "internal" / "README.txt").write_text(INTERNAL_NOTE, encoding="utf-8")
    manifest = {"build_id": build_id, "published_file": published_file.name, "files": files}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in staging.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    return staging


def put_in_place(staging: Path, build_id: str) -> Path:
    """Rename a build's finished extracts folder into place and remove all but the newest builds'."""
    root = staging.parent
    final = root / build_id
    if final.exists():  # the same build published again (a retry): its new extracts replace it
        shutil.rmtree(final)
    os.replace(staging, final)
    builds = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    key=lambda p: p.stat().st_mtime)
    for old in builds[:-KEEP_BUILDS]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".*.tmp"):
        if stale != staging:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def _copy(con: duckdb.DuckDBPyConnection, schema: str, table: str, path: Path, kind: str) -> None:
    source = f"{q(schema)}.{q(table)}"
    target = str(path).replace("'", "''")
    if kind == "parquet":
        con.execute(f"COPY (SELECT * FROM {source}) TO '{target}' (FORMAT parquet)")
        return
    con.execute(f"COPY (SELECT {_spreadsheet_safe_columns(con, schema, table)} FROM {source}) "
                f"TO '{target}' (FORMAT csv, HEADER true)")


def _spreadsheet_safe_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    """The table's columns for a CSV a spreadsheet opens: text that would start a formula gets a
    leading apostrophe, lists become `a;b` text (then checked the same way); numbers, dates and
    booleans stay as they are (a negative number is a number, not a formula)."""
    columns = []
    for name, kind in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "ORDER BY column_index", [schema, table]).fetchall():
        column = q(name)
        if kind.endswith("[]"):
            column = f"array_to_string({column}, ';')"
        elif kind != "VARCHAR":
            columns.append(column)
            continue
        columns.append(f"CASE WHEN regexp_matches({column}, '{SPREADSHEET_FORMULA_START}') "
                       f"THEN '''' || {column} ELSE {column} END AS {q(name)}")
    return ", ".join(columns)
