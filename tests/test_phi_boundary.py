"""PHI is a security boundary: a file carrying it is rejected whole, and the value is found nowhere after a
real Dagster run: not in the DuckDB file, the Dagster instance (event log, run storage), nor the output."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.settings import Settings

SSN = "123-45-6789"
EMAIL = "jane.public@example.org"
NAME = "Janet Quincy Public"


def rewrite(path: Path, change: Callable[[list[dict], list[str]], tuple[list[dict], list[str]]]) -> None:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    rows, fields = change(rows, fields)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def text_values_in_warehouse(db: Path) -> str:
    """Every text value of every table, joined: DuckDB compresses strings, so bytes alone can miss one."""
    parts = []
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'VARCHAR[]')"
        ).fetchall()
        for schema, table, column in tables:
            query = f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{schema}"."{table}"'
            rows = con.execute(query).fetchall()
            parts += [r[0] for r in rows if r[0]]
    return "\n".join(parts)


def files_text(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def delivered_phi(settings: Settings, landing: Path) -> Settings:
    """Feb sessions with an SSN and an e-mail in stop_reason; Mar vitals with a patient_name column."""
    def leak_values(rows: list[dict], fields: list[str]) -> tuple[list[dict], list[str]]:
        rows[3]["stop_reason"] = f"called patient at {EMAIL}"
        rows[5]["stop_reason"] = f"ssn {SSN} on form"
        return rows, fields

    def leak_column(rows: list[dict], fields: list[str]) -> tuple[list[dict], list[str]]:
        for row in rows:
            row["patient_name"] = NAME
        return rows, [*fields, "patient_name"]

    rewrite(landing / "sessions" / "sessions_2025-02.csv", leak_values)
    rewrite(landing / "vitals" / "vitals_2025-03.csv", leak_column)
    return settings


def test_phi_files_are_rejected_and_the_values_appear_nowhere(
    delivered_phi: Settings, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert main(["run"]) == 1  # the blocking files_accepted check fails the run
    out = capsys.readouterr()
    printed = out.out + out.err + caplog.text

    assert ("sessions_2025-02.csv: column 'stop_reason' holds values that look like an e-mail address"
            in printed)
    assert "sessions_2025-02.csv: column 'stop_reason' holds values that look like a US social security" \
        in printed
    assert "vitals_2025-03.csv: column 'patient_name' (line 1, header) is named like a" in printed
    assert "FAILED check raw/sessions:files_accepted" in printed
    # the failure in one line per step on the terminal; stack traces only in the log file
    assert "failed:    raw__sessions: 1 blocking asset check failed with ERROR severity: raw/sessions: " \
        "files_accepted" in out.out
    assert "Stack Trace" not in out.out + out.err and "Not executing" not in out.out + out.err
    assert "the figures below are the build file as this failed run left it" in out.out

    settings = delivered_phi
    warehouse_text = text_values_in_warehouse(settings.build_db)
    instance_bytes = files_text(Path(os.environ["DAGSTER_HOME"]))
    for value in (SSN, EMAIL, NAME, "Quincy"):
        assert value not in printed
        assert value not in warehouse_text
        assert value.encode() not in settings.build_db.read_bytes()
        assert value.encode() not in instance_bytes

    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        rejected = con.execute(
            "SELECT source_file FROM raw.file_versions WHERE status = 'rejected' ORDER BY 1").fetchall()
        assert rejected == [("sessions_2025-02.csv",), ("vitals_2025-03.csv",)]
        for table, month in (("sessions", "2025-02"), ("vitals", "2025-03")):
            count = con.execute(f"SELECT count(*) FROM raw.{table} WHERE export_month = '{month}'")
            assert count.fetchone() == (0,)


def test_rejected_month_keeps_its_previous_good_version(settings: Settings, landing: Path) -> None:
    assert main(["run"]) == 0
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM raw.sessions WHERE export_month = '2025-02'").fetchone()

    def leak(rows: list[dict], fields: list[str]) -> tuple[list[dict], list[str]]:
        rows[0]["stop_reason"] = f"ssn {SSN}"
        return rows, fields

    rewrite(landing / "sessions" / "sessions_2025-02.csv", leak)
    assert main(["run"]) == 1
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        after = con.execute("SELECT count(*) FROM raw.sessions WHERE export_month = '2025-02'").fetchone()
        versions = con.execute(
            "SELECT status, is_current FROM raw.file_versions WHERE export = 'sessions' "
            "AND export_month = '2025-02' ORDER BY recorded_at").fetchall()
    assert after == before
    assert versions == [("loaded", True), ("rejected", False)]
    assert SSN not in text_values_in_warehouse(settings.build_db)


def test_free_text_never_leaves_the_build(settings: Settings, landing: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A name in stop_reason passes every pattern (no name detector works offline), loads, and stays in
    the build file: the published file and the reports carry only the code (issue #12)."""
    note = "stopped, asked for Dr Quentin Marlowe-Ashby"  # a name: nothing pattern-based can tell

    def stop_with_text(rows: list[dict], fields: list[str]) -> tuple[list[dict], list[str]]:
        given = [r for r in rows if r["status"] != "cancelled"]
        for row, text in ((given[0], note), (given[1], "  Hypertension ")):
            row["status"], row["stop_reason"], row["serious_adverse_event"] = "stopped_early", text, "true"
        return rows, fields

    rewrite(landing / "sessions" / "sessions_2025-02.csv", stop_with_text)
    assert main(["run"]) == 0
    capsys.readouterr()
    published = settings.warehouse / "outcomes.duckdb"
    assert "Marlowe" in text_values_in_warehouse(settings.build_db)  # kept where it was delivered
    assert "Marlowe" not in text_values_in_warehouse(published)
    assert b"Marlowe" not in published.read_bytes() + files_text(settings.reports)
    with duckdb.connect(str(published), read_only=True) as con:
        codes = {c for (c,) in con.execute("SELECT DISTINCT stop_reason_code FROM marts.safety_signals "
                                           "WHERE stop_reason_code IS NOT NULL").fetchall()}
        columns = {c for (c,) in con.execute("SELECT column_name FROM duckdb_columns()").fetchall()}
    assert {"hypertension", "other"} <= codes
    assert "stop_reason" not in columns
