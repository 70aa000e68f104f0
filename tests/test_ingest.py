"""Ingest and validate on real DuckDB files: rejections, quarantine reasons, duplicates, orphans."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import contract
from pipelines.ingest.discover import LandingFile, discover
from pipelines.ingest.load import LoadResult, load_file
from pipelines.settings import ENV_ID_PATTERNS, ENV_TIMEZONE, SettingsError, id_patterns
from pipelines.tools.synth import SynthConfig, generate
from pipelines.validate.quarantine import StageResult, months_with_adoptable_orphans, stage_month
from tests.contract_examples import MONTH, NOW, VALID, write_csv


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "build.duckdb"))
    yield connection
    connection.close()


def landing_file(tmp_path: Path, export_name: str, month: str = MONTH, ext: str = ".csv") -> LandingFile:
    folder = tmp_path / "landing" / export_name
    folder.mkdir(parents=True, exist_ok=True)
    return LandingFile(export_name, month, folder / contract.file_name(export_name, month, ext))


def deliver(tmp_path: Path, export_name: str, rows: list[dict[str, str]], month: str = MONTH) -> LandingFile:
    file = landing_file(tmp_path, export_name, month)
    write_csv(file.path, export_name, rows)
    return file


def load_and_stage(
    con: duckdb.DuckDBPyConnection, file: LandingFile
) -> tuple[LoadResult, StageResult | None]:
    loaded = load_file(con, file)
    if loaded.status == "rejected":
        return loaded, None
    return loaded, stage_month(con, file.export, file.month, NOW)


def quarantined(con: duckdb.DuckDBPyConnection, export_name: str) -> list[tuple[int, list[str], bool]]:
    return [(line, sorted(reasons), held) for line, reasons, held in con.execute(
        f"SELECT line_number, reasons, held FROM quarantine.{export_name} ORDER BY line_number").fetchall()]


def session(n: int, **changes: str) -> dict[str, str]:
    return {**VALID["sessions"], "session_id": f"SE-{n}", **changes}


# --- whole-file rejections -------------------------------------------------------------------------

def test_missing_required_column_rejects_the_file_and_names_it(tmp_path: Path, con) -> None:
    file = landing_file(tmp_path, "sessions")
    file.path.write_text("session_id,patient_id,site_id\nS-1,P-1,S001\n", encoding="utf-8")
    result = load_file(con, file)
    assert result.status == "rejected"
    assert result.reason == (
        "sessions_2025-03.csv: line 1: missing required column(s) session_start, drug, route, dose_mg, "
        "status, serious_adverse_event, age_band, sex, indication for the sessions export"
    )
    assert con.execute("SELECT count(*) FROM raw.sessions").fetchone() == (0,)
    assert con.execute("SELECT status, is_current FROM raw.file_versions").fetchall() == [("rejected", False)]
    assert load_file(con, file) == result  # judged again next run, and still one row saying so
    assert con.execute("SELECT count(*) FROM raw.file_versions").fetchone() == (1,)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "sessions_2025-03.csv: empty file (0 bytes), expected a header row"),
    (b"\n\n", "sessions_2025-03.csv: empty file, expected a header row"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "sessions_2025-03.csv: binary data, not CSV text"),
    (b"session_id" * 7000, "sessions_2025-03.csv: line 1 is not a CSV header row (no line break in the "
     "first 64 KiB)"),
    (b"session_id,session_id,patient_id\n", "sessions_2025-03.csv: line 1, column 2: duplicated column "
     "name 'session_id'"),
    (b"session_id,patient\xe9_id\n", "sessions_2025-03.csv: line 1, column 19: header is not UTF-8 text"),
])
def test_unreadable_files_get_a_clear_message(tmp_path: Path, con, content: bytes, message: str) -> None:
    file = landing_file(tmp_path, "sessions")
    file.path.write_bytes(content)
    result = load_file(con, file)
    assert (result.status, result.reason) == ("rejected", message)


def test_truncated_gzip_is_rejected(tmp_path: Path, con) -> None:
    file = landing_file(tmp_path, "sessions", ext=".csv.gz")
    whole = gzip.compress(("x" * 200_000).encode())
    file.path.write_bytes(whole[: len(whole) // 3])
    result = load_file(con, file)
    assert (result.status, result.reason) == (
        "rejected", "sessions_2025-03.csv.gz: not a readable gzip file (EOFError)")


def test_header_only_file_loads_zero_rows_and_balances(tmp_path: Path, con) -> None:
    loaded, staged = load_and_stage(con, deliver(tmp_path, "sessions", []))
    assert loaded.status == "loaded" and loaded.records == 0
    assert staged is not None and staged.balanced and staged.rows_read == 0


def test_unknown_harmless_column_is_ignored_and_recorded_as_drift(tmp_path: Path, con) -> None:
    file = landing_file(tmp_path, "sessions")
    columns = [*contract.SESSIONS.column_names, "room_number"]
    with file.path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerow({**session(1), "room_number": "12"})
    loaded, staged = load_and_stage(con, file)
    assert loaded.drift == ("room_number",)
    assert staged is not None and staged.loaded == 1
    assert con.execute("SELECT schema_drift FROM raw.file_versions").fetchone() == (["room_number"],)


# Columns named like the load's own (lineage, DuckDB's pseudo-columns, the load's helpers) or a contract
# column in another case (issue #13): ignored and reported, never a replacement of the lineage.
INTERNAL_LOOKING = ["line_number", "rowid", "file_row_number", "k", "SESSION_ID", "_extra_1", "ordinality",
                    "_file", "_path", "filename", "first"]


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_columns_named_like_internal_ones_are_ignored_and_reported(tmp_path: Path, con, ext: str) -> None:
    columns = [*contract.SESSIONS.column_names, *INTERNAL_LOOKING]
    fake = {"line_number": "2", "rowid": "0", "file_row_number": "0", "k": "1", "SESSION_ID": "SE-1",
            "_extra_1": "x", "ordinality": "1", "_file": "7", "_path": "/etc/passwd", "filename": "x.csv",
            "first": "5"}
    rows = [{**session(1), **fake}, {**session(2, dose_mg="0"), **fake}, {**session(3), **fake}]
    source = tmp_path / "rows.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    file = landing_file(tmp_path, "sessions", ext=ext)
    if ext == ".csv":
        shutil.copyfile(source, file.path)
    else:
        pl.read_csv(source, infer_schema=False).write_parquet(file.path)  # DuckDB would rename SESSION_ID
    loaded, staged = load_and_stage(con, file)
    assert loaded.status == "loaded" and loaded.drift == tuple(INTERNAL_LOOKING)
    assert staged is not None and (staged.loaded, staged.quarantined) == (2, 1)
    assert quarantined(con, "sessions") == [(3, ["dose_mg.out_of_range"], False)]  # its own line, only it
    assert con.execute("SELECT session_id, line_number FROM raw.sessions ORDER BY 2").fetchall() == [
        ("SE-1", 2), ("SE-2", 3), ("SE-3", 4)]


# --- row quarantine with reasons -----------------------------------------------------------------

@pytest.mark.parametrize(("changes", "reasons"), [
    ({"dose_mg": "abc"}, ["dose_mg.wrong_type"]),
    ({"dose_mg": "-5", "weight_kg": "400"}, ["dose_mg.out_of_range", "weight_kg.out_of_range"]),
    ({"adverse_events": "vertigo:1"}, ["adverse_events.unknown_term"]),
    ({"adverse_events": "nausea:7"}, ["adverse_events.bad_grade"]),
    ({"session_start": "2025-02-28T09:00:00"}, ["session_start.outside_month"]),
    ({"session_start": "2055-03-01T09:00:00"}, ["session_start.in_future", "session_start.outside_month"]),
    ({"route": "", "sex": "female"}, ["route.missing", "sex.not_allowed"]),
])
def test_bad_session_rows_are_quarantined_with_every_reason(tmp_path: Path, con, changes, reasons) -> None:
    _, staged = load_and_stage(con, deliver(tmp_path, "sessions", [session(1), session(2, **changes)]))
    assert quarantined(con, "sessions") == [(3, sorted(reasons), False)]
    assert staged is not None and (staged.loaded, staged.quarantined, staged.balanced) == (1, 1, True)
    original = con.execute("SELECT * FROM quarantine.sessions").fetchone()
    assert {k: v for k, v in zip(contract.SESSIONS.column_names, original, strict=False)
            if k in changes} == {k: (v or None) for k, v in changes.items()}


def test_bad_units_and_implausible_vitals_are_quarantined(tmp_path: Path, con) -> None:
    load_and_stage(con, deliver(tmp_path, "sessions", [session(1)]))
    ok = {**VALID["vitals"], "session_id": "SE-1"}
    rows = [ok, {**ok, "measure": "heart_rate", "unit": "mmHg"}, {**ok, "measure": "spo2", "value": "30",
                                                                     "unit": "%"}]
    load_and_stage(con, deliver(tmp_path, "vitals", rows))
    assert quarantined(con, "vitals") == [(3, ["unit.mismatch"], False), (4, ["value.implausible"], False)]


def test_questionnaire_item_ranges_follow_the_instrument(tmp_path: Path, con) -> None:
    load_and_stage(con, deliver(tmp_path, "sessions", [session(1)]))
    base = {**VALID["questionnaires"], "instrument": "PHQ9"}
    rows = [{**base, "item": "9", "value": "3"}, {**base, "item": "10", "value": "1"},
            {**base, "item": "1", "value": "4"}]
    load_and_stage(con, deliver(tmp_path, "questionnaires", rows))
    assert quarantined(con, "questionnaires") == [(3, ["item.beyond_instrument"], False),
                                                  (4, ["value.out_of_range"], False)]


def test_malformed_lines_are_quarantined_with_their_line_numbers(tmp_path: Path, con) -> None:
    file = deliver(tmp_path, "sessions", [session(1), session(2), session(3, dose_mg="0")])
    lines = file.path.read_text().splitlines()
    lines.insert(2, "SE-9,P-1,S001")  # too few fields, before SE-2
    lines.insert(4, lines[1] + ",extra")  # too many fields, before SE-3
    file.path.write_text("\n".join(lines) + "\n")
    loaded, staged = load_and_stage(con, file)
    assert (loaded.records, loaded.malformed) == (5, 2)
    malformed = con.execute("SELECT line_number, error_type FROM raw.malformed_lines ORDER BY 1")
    assert malformed.fetchall() == [(3, "MISSING COLUMNS"), (5, "TOO MANY COLUMNS")]
    assert con.execute("SELECT session_id, line_number FROM raw.sessions ORDER BY 2").fetchall() == [
        ("SE-1", 2), ("SE-2", 4), ("SE-3", 6)]
    assert quarantined(con, "sessions") == [(6, ["dose_mg.out_of_range"], False)]
    assert staged is not None and staged.balanced and staged.quarantined == 3


def test_invalid_utf8_line_is_quarantined_not_fatal(tmp_path: Path, con) -> None:
    file = deliver(tmp_path, "sessions", [session(1), session(2, stop_reason="caf")])
    file.path.write_bytes(file.path.read_bytes().replace(b"caf,", b"caf\xe9,"))
    loaded, staged = load_and_stage(con, file)
    assert loaded.malformed == 1
    assert con.execute("SELECT line_number, error_type FROM raw.malformed_lines").fetchall() == [
        (3, "INVALID ENCODING")]
    assert staged is not None and staged.balanced


def test_exact_duplicates_collapse_and_conflicts_are_all_quarantined(tmp_path: Path, con) -> None:
    rows = [session(1), session(1), session(2), session(2, dose_mg="41"), session(3)]
    _, staged = load_and_stage(con, deliver(tmp_path, "sessions", rows))
    assert staged is not None
    assert (staged.loaded, staged.quarantined, staged.collapsed, staged.balanced) == (2, 2, 1, True)
    assert quarantined(con, "sessions") == [(4, ["key.conflict"], False), (5, ["key.conflict"], False)]


def test_orphans_are_held_then_adopted_by_a_late_sessions_export(tmp_path: Path, con) -> None:
    load_and_stage(con, deliver(tmp_path, "sessions", [session(1)]))
    vitals = [{**VALID["vitals"], "session_id": "SE-1"}, {**VALID["vitals"], "session_id": "SE-2"}]
    _, staged = load_and_stage(con, deliver(tmp_path, "vitals", vitals))
    assert staged is not None and (staged.loaded, staged.held) == (1, 1)
    assert quarantined(con, "vitals") == [(3, ["session_id.orphan"], True)]
    assert months_with_adoptable_orphans(con, "vitals") == []

    late = [session(2, session_start="2025-04-02T09:00:00")]
    load_and_stage(con, deliver(tmp_path, "sessions", late, month="2025-04"))
    assert months_with_adoptable_orphans(con, "vitals") == [MONTH]
    again = stage_month(con, "vitals", MONTH, NOW)
    assert (again.loaded, again.held, again.balanced) == (2, 0, True)
    assert quarantined(con, "vitals") == []


def test_questionnaire_for_unknown_patient_is_held(tmp_path: Path, con) -> None:
    load_and_stage(con, deliver(tmp_path, "sessions", [session(1)]))
    rows = [VALID["questionnaires"], {**VALID["questionnaires"], "response_id": "R-2", "patient_id": "P-404"}]
    load_and_stage(con, deliver(tmp_path, "questionnaires", rows))
    assert quarantined(con, "questionnaires") == [(3, ["patient_id.orphan"], True)]


# --- formats and re-deliveries -----------------------------------------------------------------

@pytest.mark.parametrize("ext", [".csv.gz", ".parquet"])
def test_gzip_and_parquet_load_like_csv(tmp_path: Path, con, ext: str) -> None:
    csv_file = deliver(tmp_path / "csv", "sessions", [session(1), session(2, dose_mg="0")])
    file = landing_file(tmp_path, "sessions", ext=ext)
    if ext == ".csv.gz":
        file.path.write_bytes(gzip.compress(csv_file.path.read_bytes()))
    else:
        duckdb.execute(f"COPY (SELECT * FROM read_csv('{csv_file.path}', all_varchar=true)) "
                       f"TO '{file.path}' (FORMAT parquet)")
    _, staged = load_and_stage(con, file)
    assert staged is not None and (staged.loaded, staged.quarantined) == (1, 1)
    assert quarantined(con, "sessions") == [(3, ["dose_mg.out_of_range"], False)]


def test_timestamps_real_exports_use(tmp_path: Path, con, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #13, item 4: what the contract accepts loads (a space for the T, minutes only, fractional
    seconds), in CSV and as Parquet TIMESTAMP of any precision, TIMESTAMP WITH TIME ZONE (converted to
    OUTCOMES_TIMEZONE's local time) and DATE (that day at 00:00); a zone suffix in text does not."""
    texts = ["2025-03-14 09:30", "2025-03-14T09:30:00.000", "2025-03-14 09:30:00.123456789",
             "2025-03-14T09:30:00+02:00"]
    rows = [session(n, session_start=text) for n, text in enumerate(texts, 1)]
    _, staged = load_and_stage(con, deliver(tmp_path / "csv", "sessions", rows))
    assert staged is not None and (staged.loaded, staged.quarantined) == (3, 1)
    assert quarantined(con, "sessions") == [(5, ["session_start.wrong_type"], False)]

    typed = {"TIMESTAMP_MS '2025-03-14 09:30:00.250'": "2025-03-14 09:30:00.25",
             "TIMESTAMP_NS '2025-03-14 09:30:00.123456789'": "2025-03-14 09:30:00.123456",
             "TIMESTAMPTZ '2025-03-14 14:30:00+00'": "2025-03-14 10:30:00",  # New York, daylight time
             "DATE '2025-03-14'": "2025-03-14 00:00:00"}
    monkeypatch.setenv(ENV_TIMEZONE, "America/New_York")
    for n, (literal, expected) in enumerate(typed.items(), 10):
        source = deliver(tmp_path / f"src{n}", "sessions", [session(n)])
        file = landing_file(tmp_path / f"p{n}", "sessions", ext=".parquet")
        duckdb.execute(f"COPY (SELECT * REPLACE ({literal} AS session_start) FROM read_csv('{source.path}', "
                       f"all_varchar=true)) TO '{file.path}' (FORMAT parquet)")
        _, staged = load_and_stage(con, file)
        assert staged is not None and staged.loaded == 1, literal
        start = con.execute("SELECT CAST(session_start AS VARCHAR) FROM staging.sessions").fetchone()
        assert start == (expected,), literal

    monkeypatch.delenv(ENV_TIMEZONE)
    rejected = load_file(con, landing_file(tmp_path / "p12", "sessions", ext=".parquet"))
    assert rejected.status == "rejected" and rejected.reason == (
        "sessions_2025-03.parquet: column 'session_start' holds times with a time zone (TIMESTAMP WITH TIME "
        "ZONE); set OUTCOMES_TIMEZONE to the clinics' time zone (an IANA name such as America/Chicago) to "
        "read them as local times; file rejected")


def write_manifest(file: LandingFile, rows: int, digest: str | None = None) -> None:
    digest = digest or hashlib.sha256(file.path.read_bytes()).hexdigest()
    manifest = file.path.with_name(file.path.name + ".manifest.json")
    manifest.write_text(json.dumps({"rows": rows, "sha256": digest}))


def test_a_partial_delivery_is_refused_unless_a_manifest_vouches_for_it(tmp_path: Path, con) -> None:
    """Issue #13, item 2: a re-delivery far below the version it replaces, or a first delivery far below
    the median of the previous months, is refused and the month keeps what it had; a sidecar manifest
    that matches the file vouches for it; one that does not match rejects it."""
    whole = [session(n) for n in range(1, 121)]
    assert load_file(con, deliver(tmp_path / "a", "sessions", whole)).status == "loaded"

    half = deliver(tmp_path / "b", "sessions", whole[:60])
    refused = load_file(con, half)
    assert refused.status == "rejected" and refused.reason is not None
    assert refused.reason.startswith("sessions_2025-03.csv: 60 records, 50% of the 120 of the version it "
                                     "would replace (loaded ")
    assert "below 80% (OUTCOMES_REDELIVERY_MIN_SHARE) a re-delivery looks partial" in refused.reason
    assert con.execute("SELECT count(*) FROM raw.sessions").fetchone() == (120,)  # the month kept its version

    write_manifest(half, 61)
    assert load_file(con, half).reason == (
        "sessions_2025-03.csv: 60 records, but sessions_2025-03.csv.manifest.json says 61; file rejected")
    write_manifest(half, 60, "0" * 64)
    assert load_file(con, half).reason == (
        "sessions_2025-03.csv: its sha256 is not the one in sessions_2025-03.csv.manifest.json: the file is "
        "incomplete or not the one the manifest describes; file rejected")
    half.path.with_name(half.path.name + ".manifest.json").write_text('{"rows": 60,')
    assert load_file(con, half).reason == (
        "sessions_2025-03.csv.manifest.json: not JSON (line 1, column 13); expected {\"rows\": <data "
        "records>, \"sha256\": \"<64 hex digits>\"}; file rejected")
    write_manifest(half, 60)
    assert load_file(con, half).status == "loaded"  # the clinic confirms: the month really is smaller
    assert discover(tmp_path / "b" / "landing").ignored == ()  # the manifest is not a stray file

    for month in ("2025-04", "2025-05"):
        assert load_file(con, deliver(tmp_path / month, "sessions", whole, month)).status == "loaded"
    first = load_file(con, deliver(tmp_path / "c", "sessions", whole[:20], "2025-06"))
    assert first.reason is not None and first.reason.startswith(
        "sessions_2025-06.csv: 20 records, 17% of the median 120 of the export's previous months (2025-03 .. "
        "2025-05); below 25% (OUTCOMES_NEW_MONTH_MIN_SHARE) a first delivery looks partial")


def test_identical_redelivery_is_a_no_op_and_a_correction_replaces(tmp_path: Path, con) -> None:
    file = deliver(tmp_path, "sessions", [session(1), session(2)])
    assert load_file(con, file).status == "loaded"
    assert load_file(con, file).status == "unchanged"
    deliver(tmp_path, "sessions", [session(1), session(3)])
    assert load_file(con, file).status == "loaded"
    assert con.execute("SELECT session_id FROM raw.sessions ORDER BY 1").fetchall() == [("SE-1",), ("SE-3",)]
    assert con.execute("SELECT count(*), count_if(is_current) FROM raw.file_versions").fetchone() == (2, 1)


# --- the generator's own defect log --------------------------------------------------------------

EXPECTED_REASON = {
    "out_of_range": {"out_of_range", "implausible", "beyond_instrument"},
    "bad_unit": {"mismatch"},
    "wrong_type": {"wrong_type", "not_allowed"},
    "missing_required": {"missing"},
    "unknown_ae_term": {"unknown_term"},
    "bad_ae_grade": {"bad_grade"},
    "outside_month": {"outside_month"},
    "future_timestamp": {"in_future"},
    "orphan": {"orphan"},
    "duplicate_conflict": {"conflict"},
}


def test_entries_named_like_deliveries_that_are_not_files_are_named(tmp_path: Path) -> None:
    """A dangling symbolic link or a folder named like an export file is one line each, never skipped
    without a word (issue #13, item 7); other stray entries are listed as ignored."""
    folder = tmp_path / "landing" / "sessions"
    folder.mkdir(parents=True)
    write_csv(folder / "sessions_2025-01.csv", "sessions", [VALID["sessions"]])
    (folder / "sessions_2025-02.csv").symlink_to(tmp_path / "gone.csv")
    (folder / "sessions_2025-03.csv").mkdir()
    (folder / "notes.txt").write_text("x")
    found = discover(tmp_path / "landing")
    assert [f.month for f in found.files] == ["2025-01"]
    assert found.unreadable == (
        f"{folder}/sessions_2025-02.csv: a symbolic link to a file that does not exist; expected a regular "
        "file",
        f"{folder}/sessions_2025-03.csv: a folder; expected a regular file",
    )
    assert found.ignored == (folder / "notes.txt",)


def test_every_injected_defect_is_caught_with_the_right_reason(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    summary = generate(landing, SynthConfig(sites=2, patients=40, months=2, start_month="2025-01", seed=11,
                                            defect_rate=0.03))
    found = discover(landing)
    results = {}
    for export_name in contract.EXPORTS:  # sessions first, as the pipeline orders them
        for month in found.months:
            file = found.file_for(export_name, month)
            assert file is not None
            results[(export_name, month)] = load_and_stage(con, file)[1]
    assert all(r.balanced for r in results.values())

    log = list(csv.DictReader((landing / "_synth" / "defects.csv").open()))
    assert len(log) == sum(summary.defects.values()) > 50
    for defect in log:
        export_name, line, kind = defect["export"], int(defect["line"]), defect["kind"]
        where = f"source_file = '{defect['file']}' AND line_number = {line}"
        if kind == "malformed_line":
            assert con.execute(f"SELECT count(*) FROM raw.malformed_lines WHERE {where}").fetchone() \
                == (1,), defect
            continue
        if kind == "duplicate_exact":
            assert con.execute(f"SELECT count(*) FROM staging.{export_name} WHERE {where}").fetchone() == (0,)
            continue
        row = con.execute(f"SELECT reasons FROM quarantine.{export_name} WHERE {where}").fetchone()
        assert row is not None, defect
        suffixes = {reason.split(".", 1)[1] for reason in row[0]}
        assert suffixes & EXPECTED_REASON[kind], (defect, row[0])

    collapsed = sum(r.collapsed for r in results.values())
    assert collapsed == summary.defects.get("duplicate_exact", 0)
    # Clean rows all load, except the first copy of a conflicting pair and the rows of a
    # session that is itself quarantined (held as orphans, not lost).
    parent = {"sessions": "false", "vitals": "session_id IN (SELECT session_id FROM quarantine.sessions)",
              "questionnaires": "patient_id IN (SELECT patient_id FROM quarantine.sessions) OR "
                                "session_id IN (SELECT session_id FROM quarantine.sessions)"}
    for export_name in contract.EXPORTS:
        bad_lines = {(d["file"], int(d["line"])) for d in log if d["export"] == export_name}
        rows = con.execute(
            f"SELECT source_file, line_number, reasons, held AND ({parent[export_name]}) "
            f"FROM quarantine.{export_name}"
        ).fetchall()
        unexplained = [(f, n, r) for f, n, r, collateral in rows
                       if (f, n) not in bad_lines and "key.conflict" not in r and not collateral]
        assert unexplained == []


def test_copy_of_tiny_landing_runs_through_discover(tiny_exports: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_exports, tmp_path / "landing")
    found = discover(tmp_path / "landing")
    assert len(found.files) == 9 and not found.conflicts and not found.ignored


def test_questionnaire_naming_another_patients_session_is_quarantined(tmp_path: Path, con) -> None:
    load_and_stage(con, deliver(tmp_path, "sessions", [session(1), session(2, patient_id="P-2")]))
    rows = [{**VALID["questionnaires"], "session_id": "SE-1"},
            {**VALID["questionnaires"], "response_id": "R-2", "session_id": "SE-1", "patient_id": "P-2"}]
    load_and_stage(con, deliver(tmp_path, "questionnaires", rows))
    assert quarantined(con, "questionnaires") == [(3, ["session_id.other_patient"], False)]


def test_inconsistent_response_header_quarantines_the_response(tmp_path: Path, con) -> None:
    load_and_stage(con, deliver(tmp_path, "sessions", [session(1), session(2, patient_id="P-2")]))
    base = VALID["questionnaires"]
    rows = [{**base, "item": "1"}, {**base, "item": "2", "patient_id": "P-2"},
            {**base, "item": "3", "value": "9"}]
    load_and_stage(con, deliver(tmp_path, "questionnaires", rows))
    assert quarantined(con, "questionnaires") == [
        (2, ["response.inconsistent"], False), (3, ["response.inconsistent"], False),
        (4, ["value.out_of_range"], False)]


# --- id shapes per network (issue #12): OUTCOMES_ID_PATTERNS ------------------------------------------------


def test_a_network_sets_its_own_id_shapes(tmp_path: Path, con: duckdb.DuckDBPyConnection,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """MRN-style patient ids are off the demo's shape, and accepted once the network says they are its ids."""
    rows = [{**VALID["sessions"], "patient_id": "MRN-00123456"}]
    rejected = load_file(con, deliver(tmp_path / "a", "sessions", rows))
    assert rejected.status == "rejected"
    assert rejected.reason is not None and "column 'patient_id': 1 value is not an id" in rejected.reason
    assert "00123456" not in rejected.reason

    patterns = tmp_path / "ids.json"
    patterns.write_text(json.dumps({"patient_id": "MRN-[0-9]{8}"}), encoding="utf-8")
    monkeypatch.setenv(ENV_ID_PATTERNS, str(patterns))
    assert id_patterns()["patient_id"] == "MRN-[0-9]{8}"
    assert id_patterns()["session_id"] == contract.DEFAULT_ID_PATTERNS["session_id"]
    # the same bytes, judged again under the network's shapes: a rejection is not remembered
    again = load_file(con, deliver(tmp_path / "a", "sessions", rows))
    assert again.status == "loaded" and again.records == 1
    assert con.execute("SELECT status, is_current FROM raw.file_versions ORDER BY recorded_at").fetchall() \
        == [("rejected", False), ("loaded", True)]
    # the safe shape holds whatever the network's pattern says: no formula, no invisible character
    patterns.write_text(json.dumps({"patient_id": ".*"}), encoding="utf-8")
    formula = [{**VALID["sessions"], "patient_id": "=1+1"}]
    assert load_file(con, deliver(tmp_path / "c", "sessions", formula)).status == "rejected"


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not JSON (line 1, column 2)"),
    ("[]", "expected a JSON object"),
    ('{"patient_name": "P-[0-9]+"}', "'patient_name' is not an id column; expected one of clinician_id"),
    ('{"patient_id": ""}', "the pattern for patient_id must be a non-empty string"),
    ('{"patient_id": "P-[0-9"}', "the pattern for patient_id is not a valid regular expression"),
    ('{"patient_id": "(?<=x)P"}', "the pattern for patient_id is not a valid regular expression"),  # no RE2
])
def test_a_bad_id_patterns_file_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  content: str, message: str) -> None:
    patterns = tmp_path / "ids.json"
    patterns.write_text(content, encoding="utf-8")
    monkeypatch.setenv(ENV_ID_PATTERNS, str(patterns))
    with pytest.raises(SettingsError) as raised:
        id_patterns()
    assert message in str(raised.value) and "\n" not in str(raised.value)
