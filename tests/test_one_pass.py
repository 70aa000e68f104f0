"""Ingest and validation of a run's files in one pass decide exactly as one file or month at a time.

The ingest asset reads all of an export's files with one `read_csv` and one PHI and id-shape
scan (`load_files`); the validate asset stages all of a run's months with one set of queries
per export (`stage_months`). These tests pin that neither changes what a file-by-file,
month-by-month run decides: on a generated network with every kind of defect (malformed
lines in several files of one read), on files rejected inside a group (the others load), and
on hand-made sessions that appear in two months (a session belongs to the earliest month whose
row for it is good).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines import contract
from pipelines.ingest.discover import discover
from pipelines.ingest.load import load_file, load_files
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


def _load(landing: Path, database: Path, at_once: bool = False
          ) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """Every landing file loaded, one by one or each export's files in one pass."""
    con = duckdb.connect(str(database))
    found = discover(landing)
    if at_once:
        by_export = [[f for f in found.files if f.export == e] for e in contract.EXPORTS]
        results = [r for files in by_export for r in load_files(con, files)]
    else:
        results = [load_file(con, file) for file in found.files]
    assert [r.status for r in results] == ["loaded"] * len(found.files), [r.reason for r in results]
    return con, found.months


def _raw(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every raw row, malformed line and file version, load times left out."""
    tables = {f"raw.{e}": con.execute(f"SELECT * EXCLUDE (ingested_at) FROM raw.{e} "
                                      "ORDER BY export_month, line_number").fetchall()
              for e in contract.EXPORTS}
    tables["malformed"] = con.execute("SELECT * EXCLUDE (quarantined_at) FROM raw.malformed_lines "
                                      "ORDER BY export, export_month, line_number").fetchall()
    tables["versions"] = con.execute("SELECT * EXCLUDE (recorded_at) FROM raw.file_versions "
                                     "ORDER BY export, export_month").fetchall()
    return tables


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


def test_all_files_and_months_at_once_decide_every_row_as_one_by_one(landing: Path, tmp_path: Path) -> None:
    one_by_one, months = _load(landing, tmp_path / "one.duckdb")
    at_once, _ = _load(landing, tmp_path / "all.duckdb", at_once=True)
    raw = _raw(at_once)
    assert raw == _raw(one_by_one)
    assert len({(e, m) for e, m, *_ in raw["malformed"]}) >= 3  # malformed lines in several files of one read
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


def _copy_month(landing: Path, export: str, months: list[str], to: Path) -> list[Path]:
    folder = to / export
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(landing / export / contract.file_name(export, m), folder)) for m in months]


def test_a_file_rejected_in_a_group_leaves_the_others_loaded(landing: Path, tmp_path: Path) -> None:
    """PHI in one file of a read, an unreadable file (the group's read fails, each file is then
    read alone) and a month cut short against the months accepted before it in the same read."""
    months = NETWORK.month_labels
    copies = _copy_month(landing, "sessions", months, tmp_path / "phi")
    phi = {**VALID["sessions"], "session_id": "SE-000000000def", "session_start": "2025-02-03T09:00:00",
           "stop_reason": "call jane.doe@example.org"}  # an e-mail address
    _append_row(copies[1], phi)
    con = duckdb.connect(str(tmp_path / "phi.duckdb"))
    results = load_files(con, discover(tmp_path / "phi").files)
    assert [r.status for r in results] == ["loaded", "rejected", "loaded"]
    assert results[1].reason.startswith(
        "sessions_2025-02.csv: column 'stop_reason' holds values that look like an e-mail address")
    assert "jane" not in results[1].reason
    assert con.execute("SELECT DISTINCT export_month FROM raw.sessions ORDER BY 1").fetchall() == [
        ("2025-01",), ("2025-03",)]

    vitals = _copy_month(landing, "vitals", months[:2], tmp_path / "unreadable")
    vitals[0].write_bytes(vitals[0].read_bytes().replace(b"\n", b"\r\n", 40))  # mixed line endings
    results = load_files(con, discover(tmp_path / "unreadable").files)
    assert [r.status for r in results] == ["rejected", "loaded"]
    assert results[0].reason.startswith(
        "vitals_2025-01.csv: line 41: ends with LF while line 1 ends with CR LF"), results[0].reason

    cut = _copy_month(landing, "vitals", months, tmp_path / "cut")
    lines = cut[2].read_text().splitlines(keepends=True)
    cut[2].write_text("".join(lines[: len(lines) // 10]))  # March: a tenth of its rows
    con = duckdb.connect(str(tmp_path / "cut.duckdb"))
    results = load_files(con, discover(tmp_path / "cut").files)
    assert [r.status for r in results] == ["loaded", "loaded", "rejected"]
    assert "of the median" in results[2].reason, results[2].reason
    assert "(2025-01 .. 2025-02)" in results[2].reason  # both accepted in the same read


def test_a_read_whose_rows_are_not_in_file_order_is_done_file_by_file(
        landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Line numbers rest on DuckDB keeping a multi-file scan's rows file by file; should a read not,
    each file is read alone rather than numbered wrongly."""
    from pipelines.ingest import load, read

    def scattered(con, files, header, names):  # the signature of read_files
        if len(files) > 1:
            raise read.InterleavedRead("the rows of the files read together are not in file order")
        return read.read_files(con, files, header, names)

    files = [f for f in discover(landing).files if f.export == "vitals"]
    one = duckdb.connect(str(tmp_path / "one.duckdb"))
    expected = [load_file(one, f) for f in files]
    monkeypatch.setattr(load, "read_files", scattered)
    con = duckdb.connect(str(tmp_path / "all.duckdb"))
    results = load_files(con, files)
    assert [(r.status, r.records, r.malformed) for r in results] == \
        [(r.status, r.records, r.malformed) for r in expected]
    lines = "SELECT export_month, line_number FROM raw.vitals ORDER BY ALL"
    assert con.execute(lines).fetchall() == one.execute(lines).fetchall()


def test_a_broken_row_of_a_session_another_month_holds_gets_both_reasons(tmp_path: Path) -> None:
    """The in-other-month reason is added to a row already quarantined for its own reason, as staging
    the months one by one does."""
    folder = tmp_path / "landing" / "sessions"
    folder.mkdir(parents=True)
    rows = {"2025-02": [{**VALID["sessions"], "session_start": "2025-02-14T09:30:00"}],
            "2025-03": [{**VALID["sessions"], "dose_mg": "abc"}]}
    for month, month_rows in rows.items():
        write_csv(folder / contract.file_name("sessions", month), "sessions", month_rows)
    decided = []
    for name, at_once in (("one", False), ("all", True)):
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"))
        load_files(con, discover(tmp_path / "landing").files)
        if at_once:
            stage_months(con, "sessions", list(rows), NOW)
        else:
            for month in rows:
                stage_month(con, "sessions", month, NOW)
        decided.append(con.execute("SELECT export_month, session_id, list_sort(reasons) "
                                   "FROM quarantine.sessions").fetchall())
    both = ["dose_mg.wrong_type", "session_id.in_other_month"]
    assert decided[0] == decided[1] == [("2025-03", "SE-1", both)]
