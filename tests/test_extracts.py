"""Parquet and CSV extracts of each published build (pipelines/publish/extracts.py, issue #25)."""

from __future__ import annotations

import csv
import hashlib
import json
import time
import uuid
from pathlib import Path

import duckdb

from pipelines.publish.extracts import KEEP_BUILDS, extracts_root, put_in_place, write_extracts
from pipelines.publish.warehouse import PUBLISHED_NAME
from tests.conftest import TinyBuild


def test_a_published_build_has_its_extracts_beside_it(tiny_build: TinyBuild) -> None:
    """Every reporting table as Parquet and CSV, every mart as internal Parquet, each in the manifest
    with its published row count and the SHA-256 of the file."""
    published = tiny_build.warehouse / PUBLISHED_NAME
    with duckdb.connect(str(published), read_only=True) as con:
        build_id = con.execute("SELECT build_id FROM meta.build").fetchone()[0]
        counts = {f"{s}.{t}": n for s, t, n in con.execute(
            "SELECT schema_name, table_name, n_rows FROM meta.build_tables "
            "WHERE schema_name IN ('reporting', 'marts')").fetchall()}
    folder = extracts_root(tiny_build.warehouse) / build_id
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["build_id"] == build_id
    listed = {(f["table"], Path(f["file"]).suffix): f for f in manifest["files"]}
    reporting = sorted(t for t in counts if t.startswith("reporting."))
    marts = sorted(t for t in counts if t.startswith("marts."))
    assert len(reporting) >= 8 and len(marts) >= 8
    expected = [(t, ".parquet") for t in reporting + marts] + [(t, ".csv") for t in reporting]
    assert sorted(listed) == sorted(expected)
    for (table, _), entry in listed.items():
        path = folder / entry["file"]
        assert entry["rows"] == counts[table]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        internal = path.parts[-3:-1] == ("internal", "marts")
        assert internal if table.startswith("marts.") else path.parent.name == "reporting"
    with duckdb.connect() as con:
        for (table, suffix), entry in listed.items():
            reader = "read_parquet" if suffix == ".parquet" else "read_csv"
            found = con.execute(f"SELECT count(*) FROM {reader}(?)", [str(folder / entry["file"])]).fetchone()
            assert found[0] == counts[table], table
    assert "INTERNAL" in (folder / "internal" / "README.txt").read_text(encoding="utf-8")
    assert not list(extracts_root(tiny_build.warehouse).glob(".*"))  # no unfinished folder left


def test_the_csv_cannot_start_a_formula_in_a_spreadsheet(tmp_path: Path) -> None:
    """Text that a spreadsheet would read as a formula gets a leading apostrophe; numbers stay numbers."""
    published = tmp_path / "published.duckdb"
    with duckdb.connect(str(published)) as con:
        con.execute("CREATE SCHEMA reporting; CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.m AS SELECT 1 AS n")
        con.execute("CREATE TABLE reporting.cells (label VARCHAR, value DOUBLE, cells VARCHAR[])")
        con.execute("CREATE SCHEMA meta; CREATE TABLE meta.build_tables AS "  # as publish writes it
                    "SELECT 'marts' AS schema_name, 'm' AS table_name, 1 AS n_rows "
                    "UNION ALL SELECT 'reporting', 'cells', 7")
        con.execute("INSERT INTO reporting.cells VALUES "
                    "('=HYPERLINK(\"http://x\",\"y\")', -1.5, ['=a', 'b']), ('+1', 2.0, []), "
                    "('-2', NULL, NULL), ('@SUM(A1)', 0.0, ['n_met']), (chr(9) || '=1', 1.0, NULL), "
                    "('S001', 3.5, NULL), (NULL, 4.0, NULL)")
    build_id = str(uuid.uuid4())
    folder = put_in_place(write_extracts(published, tmp_path, build_id), build_id)
    with (folder / "reporting" / "cells.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["label"] for r in rows] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2", "'@SUM(A1)", "'\t=1", "S001", ""]
    assert [r["value"] for r in rows] == ["-1.5", "2.0", "", "0.0", "1.0", "3.5", "4.0"]
    assert [r["cells"] for r in rows] == ["'=a;b", "", "", "n_met", "", "", ""]
    # the Parquet keeps the values as they are
    with duckdb.connect() as con:
        parquet = str(folder / "reporting" / "cells.parquet")
        labels = con.execute("SELECT label FROM read_parquet(?)", [parquet]).fetchall()
    assert labels[0][0].startswith("=HYPERLINK")


def test_only_the_newest_builds_extracts_are_kept(tmp_path: Path) -> None:
    published = tmp_path / "published.duckdb"
    with duckdb.connect(str(published)) as con:
        con.execute("CREATE SCHEMA reporting; CREATE SCHEMA marts; CREATE TABLE reporting.t AS SELECT 1 AS n")
        con.execute("CREATE SCHEMA meta; CREATE TABLE meta.build_tables AS "
                    "SELECT 'reporting' AS schema_name, 't' AS table_name, 1 AS n_rows")
    builds = [str(uuid.uuid4()) for _ in range(KEEP_BUILDS + 2)]
    for build_id in builds:
        put_in_place(write_extracts(published, tmp_path, build_id), build_id)
        time.sleep(0.02)  # distinct modification times
    assert sorted(p.name for p in extracts_root(tmp_path).iterdir()) == sorted(builds[-KEEP_BUILDS:])
