"""Validation of many months in one pass decides every row exactly as staging them one by one.

The validate asset stages all of a run's months with one set of queries per export
(`stage_months`); these tests pin that it changes nothing a month-by-month run would decide:
on a generated network with every kind of defect, and on hand-made sessions that appear in
two months (a session belongs to the earliest month whose row for it is good).
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from pipelines import contract
from pipelines.ingest.discover import discover
from pipelines.ingest.load import load_file
from pipelines.tools.synth import SynthConfig, generate
from pipelines.validate.quarantine import stage_month, stage_months
from tests.contract_examples import NOW, VALID, write_csv

NETWORK = SynthConfig(sites=2, patients=40, months=3, start_month="2025-01", seed=5, defect_rate=0.04)
LINEAGE_AND_VALUES = "* EXCLUDE (ingested_at)"


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every staged, quarantined and accounted row, in a stable order (load times left out)."""
    tables = {}
    for export in contract.EXPORTS:
        for schema in ("staging", "quarantine"):
            tables[f"{schema}.{export}"] = con.execute(
                f"SELECT {LINEAGE_AND_VALUES} FROM {schema}.{export} ORDER BY export_month, line_number"
            ).fetchall()
    tables["file_accounting"] = con.execute(
        "SELECT * EXCLUDE (checked_at) FROM quarantine.file_accounting ORDER BY export, export_month"
    ).fetchall()
    return tables


def _load(landing: Path, database: Path) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    con = duckdb.connect(str(database))
    found = discover(landing)
    for file in found.files:
        result = load_file(con, file)
        assert result.status == "loaded", result.reason
    return con, found.months


def _append_row(path: Path, row: dict[str, str]) -> None:
    with path.open("a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(row), lineterminator="\n").writerow(row)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated network, plus sessions delivered again in a later month (one of them with a
    broken row in its first month, so the later month keeps it)."""
    folder = tmp_path_factory.mktemp("batch") / "landing"
    generate(folder, NETWORK)
    first = next(csv.DictReader((folder / "sessions" / "sessions_2025-01.csv").open()))
    march = {**first, "session_start": "2025-03-03T09:00:00"}
    _append_row(folder / "sessions" / "sessions_2025-03.csv", march)
    broken = {**VALID["sessions"], "session_id": "SE-000000000abc", "patient_id": first["patient_id"],
              "site_id": first["site_id"], "session_start": "2025-02-10T09:00:00", "dose_mg": "zero"}
    _append_row(folder / "sessions" / "sessions_2025-02.csv", broken)
    _append_row(folder / "sessions" / "sessions_2025-03.csv",
                {**broken, "session_start": "2025-03-10T09:00:00", "dose_mg": "40"})
    return folder


def test_all_months_at_once_decide_every_row_as_month_by_month(landing: Path, tmp_path: Path) -> None:
    one_by_one, months = _load(landing, tmp_path / "one.duckdb")
    at_once, _ = _load(landing, tmp_path / "all.duckdb")
    results = []
    for export in contract.EXPORTS:  # sessions first, as the assets' dependencies order them
        for month in months:
            stage_month(one_by_one, export, month, NOW)
        results += stage_months(at_once, export, months, NOW)

    assert [r.month for r in results] == months * 3
    assert all(r.balanced for r in results)
    assert sum(r.quarantined for r in results) > 20  # the defects are there to be decided
    expected, actual = _tables(one_by_one), _tables(at_once)
    for table, rows in expected.items():
        assert actual[table] == rows, table

    reasons = dict(at_once.execute(
        "SELECT export_month || ' ' || session_id, reasons FROM quarantine.sessions "
        "WHERE list_contains(reasons, 'session_id.in_other_month') OR session_id = 'SE-000000000abc'"
    ).fetchall())
    first_id = next(csv.DictReader((landing / "sessions" / "sessions_2025-01.csv").open()))["session_id"]
    assert reasons == {f"2025-03 {first_id}": ["session_id.in_other_month"],
                       "2025-02 SE-000000000abc": ["dose_mg.wrong_type"]}
    assert at_once.execute("SELECT export_month FROM staging.sessions WHERE session_id = 'SE-000000000abc'"
                           ).fetchall() == [("2025-03",)]


def test_a_month_staged_again_alone_keeps_its_sessions_against_the_other_months(tmp_path: Path) -> None:
    """Re-staging one month of a staged history: sessions staged in other months stay theirs."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    folder = tmp_path / "landing" / "sessions"
    folder.mkdir(parents=True)
    rows = {"2025-02": [{**VALID["sessions"], "session_id": "SE-1", "session_start": "2025-02-14T09:30:00"}],
            "2025-03": [VALID["sessions"], {**VALID["sessions"], "session_id": "SE-2"}]}
    for month, month_rows in rows.items():
        write_csv(folder / contract.file_name("sessions", month), "sessions", month_rows)
    for file in discover(tmp_path / "landing").files:
        load_file(con, file)
    stage_months(con, "sessions", ["2025-02", "2025-03"], NOW)
    again = stage_months(con, "sessions", ["2025-03"], NOW)[0]
    assert (again.loaded, again.quarantined, again.balanced) == (1, 1, True)
    assert con.execute("SELECT export_month, session_id, reasons FROM quarantine.sessions").fetchall() == [
        ("2025-03", "SE-1", ["session_id.in_other_month"])]
