"""Bad-input catalogue: every kind of broken export, fed through the real load and stage code.

Each kind ends in exactly one of two ways, and the test says which, with the exact words:
- the file is rejected whole with a message naming the file (and the line and column where
  there is one; `load_file` records the FileRejected/PhiRejected text as the version's reason),
  and nothing of it reaches raw, staging or quarantine;
- the file loads and its bad rows are quarantined with their reasons at their line numbers,
  its malformed lines kept in raw.malformed_lines, and the accounting proves that every
  record of the file is loaded, quarantined, malformed or collapsed, once.
The table in docs/ingest-and-validation.md ("Bad-input catalogue") lists the same outcomes.
"""

from __future__ import annotations

import csv
import gzip
import io
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from pipelines import contract
from pipelines.ingest.discover import LandingFile
from pipelines.ingest.header import line_ending_problem
from pipelines.ingest.load import LoadResult, load_file
from pipelines.validate.quarantine import StageResult, stage_month
from tests.contract_examples import MONTH, NOW, VALID

SESSIONS_FILE = contract.file_name("sessions", MONTH)
UNSPLITTABLE = "file rejected (the reader cannot split it into records)"
BOM = b"\xef\xbb\xbf"


# --- building files ----------------------------------------------------------------------------------

def row(export_name: str, **changes: str) -> dict[str, str]:
    return {**VALID[export_name], **changes}


def session(n: int, **changes: str) -> dict[str, str]:
    return row("sessions", session_id=f"SE-{n}", **changes)


def csv_bytes(export_name: str, rows: list[dict[str, str]], columns: list[str] | None = None,
              newline: str = "\n") -> bytes:
    """A well-formed export (the contract's columns unless given), quoting only where CSV needs it."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or list(contract.export(export_name).column_names),
                            lineterminator=newline)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def lines_of(export_name: str, rows: list[dict[str, str]]) -> list[bytes]:
    """Header and rows as separate lines, for cases that break one line by hand."""
    return csv_bytes(export_name, rows).split(b"\n")[:-1]


def joined(lines: list[bytes], newline: bytes = b"\n") -> bytes:
    return newline.join(lines) + newline


def big_gzip_cut_short() -> bytes:
    """A .csv.gz that looks like a 2 GiB export: its last four bytes (gzip's ISIZE) say 2 GiB.

    Its stream holds far more than the 64 KiB the header check reads, and is then cut off, so
    only the full read finds the end missing.
    """
    whole = gzip.compress(csv_bytes("sessions", [session(n) for n in range(4000)]))
    data = whole[: len(whole) * 2 // 3] + struct.pack("<II", 0, 2**31)
    assert struct.unpack("<I", data[-4:])[0] == 2**31 and len(data) < 50_000
    return data


# --- running the pipeline's two steps on a temporary warehouse --------------------------------------

@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "build.duckdb"))
    yield connection
    connection.close()


def deliver(tmp_path: Path, export_name: str, content: bytes, ext: str = ".csv") -> LandingFile:
    folder = tmp_path / "landing" / export_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / contract.file_name(export_name, MONTH, ext)
    path.write_bytes(content)
    return LandingFile(export_name, MONTH, path)


def load_sessions_first(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Session SE-1 of patient P-1, so vitals and questionnaire rows are not orphans."""
    file = deliver(tmp_path / "parents", "sessions", csv_bytes("sessions", [session(1)]))
    assert load_file(con, file).status == "loaded"
    assert stage_month(con, "sessions", MONTH, NOW).loaded == 1


def lines(con: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> list[int]:
    return [n for (n,) in con.execute(f"SELECT line_number FROM {table} WHERE {where} ORDER BY 1").fetchall()]


def assert_accounted(con: duckdb.DuckDBPyConnection, file: LandingFile, loaded: LoadResult,
                     staged: StageResult, records: int) -> None:
    """Every record of the file is in exactly one place, and file_accounting says so.

    `records` is the number of data records the file holds, counted by the test, not the reader.
    Records are numbered 2..records+1 (header = 1), so the line numbers across raw and
    malformed lines must be exactly that range; staged and quarantined rows are raw rows, and
    the raw rows in neither are exact copies of an earlier row (collapsed).
    """
    export, month, name = file.export, file.month, file.path.name
    accounting = con.execute(
        "SELECT source_file, rows_read, rows_loaded, rows_quarantined, rows_malformed, duplicates_collapsed, "
        "balanced FROM quarantine.file_accounting WHERE export = ? AND export_month = ?", [export, month]
    ).fetchall()
    assert accounting == [
        (name, records, staged.loaded, staged.quarantined, staged.malformed, staged.collapsed, True)]
    assert records == loaded.records == staged.loaded + staged.quarantined + staged.collapsed
    month_of = f"export_month = '{month}'"
    raw = lines(con, f"raw.{export}", month_of)
    malformed = lines(con, "raw.malformed_lines", f"{month_of} AND export = '{export}'")
    staging = lines(con, f"staging.{export}", month_of)
    quarantine = lines(con, f"quarantine.{export}", month_of)
    assert sorted(raw + malformed) == list(range(2, records + 2))
    assert len(malformed) == loaded.malformed == staged.malformed and len(staging) == staged.loaded
    assert len(quarantine) + len(malformed) == staged.quarantined
    assert not set(staging) & set(quarantine) and set(staging) | set(quarantine) <= set(raw)
    collapsed = sorted(set(raw) - set(staging) - set(quarantine))
    assert len(collapsed) == staged.collapsed
    same = " AND ".join(f'a."{c}" IS NOT DISTINCT FROM b."{c}"' for c in contract.export(export).column_names)
    for line in collapsed:
        earlier = con.execute(
            f"SELECT count(*) FROM raw.{export} a JOIN raw.{export} b ON {same} "
            f"WHERE a.{month_of} AND b.{month_of} AND a.line_number = ? AND b.line_number < ?", [line, line]
        ).fetchone()
        assert earlier is not None and earlier[0] >= 1, line


def quarantined(con: duckdb.DuckDBPyConnection, export_name: str) -> dict[int, list[str]]:
    rows = con.execute(f"SELECT line_number, reasons FROM quarantine.{export_name} ORDER BY 1").fetchall()
    return {line: sorted(reasons) for line, reasons in rows}


def malformed_lines(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    query = "SELECT line_number, error_type FROM raw.malformed_lines ORDER BY 1"
    return dict(con.execute(query).fetchall())


def tables_holding(con: duckdb.DuckDBPyConnection, needle: str) -> list[str]:
    """Every table.column of the warehouse with a text (or text list) value containing `needle`, for PHI."""
    found = []
    for schema, table, column in con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type IN ('VARCHAR', 'VARCHAR[]') AND table_catalog = current_database()"
    ).fetchall():
        hit = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE contains("{column}"::VARCHAR, ?)',
                          [needle]).fetchone()
        if hit and hit[0]:
            found.append(f"{schema}.{table}.{column}")
    return found


# --- the catalogue: files rejected whole ---------------------------------------------------------------

@dataclass(frozen=True)
class Rejected:
    """A kind of bad file that is refused whole, with the exact reason recorded for it."""

    kind: str
    content: Callable[[], bytes]
    reason: str
    export: str = "sessions"
    ext: str = ".csv"
    secret: str | None = None  # PHI in the file that must not reach the warehouse


def _rejected_cases() -> list[Rejected]:
    ok = lines_of("sessions", [session(1), session(2), session(3)])
    name = SESSIONS_FILE
    return [
        Rejected("missing required column",
                 lambda: b"session_id,patient_id,site_id\nS-1,P-1,S001\n",
                 f"{name}: line 1: missing required column(s) session_start, drug, route, dose_mg, status, "
                 "serious_adverse_event, age_band, sex, indication for the sessions export"),
        Rejected("zero-byte file", lambda: b"", f"{name}: empty file (0 bytes), expected a header row"),
        Rejected("empty file (only line breaks and spaces)", lambda: b"\n \r\n\n",
                 f"{name}: empty file, expected a header row"),
        Rejected("blank header line before the header", lambda: b"\n" + joined(ok),
                 f"{name}: line 1 is empty; expected the header row there"),
        Rejected("blank header line (CR LF) before the header", lambda: b"\r\n" + joined(ok, b"\r\n"),
                 f"{name}: line 1 is empty; expected the header row there"),
        Rejected("header of one column (not comma-separated)", lambda: b"session_id;patient_id\nS-1;P-1\n",
                 f"{name}: line 1 has 1 column(s); expected a comma-separated header"),
        Rejected("binary file with a .csv name",
                 lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
                 f"{name}: binary data, not CSV text"),
        Rejected("UTF-16 export", lambda: joined(ok).decode().encode("utf-16"),
                 f"{name}: binary data, not CSV text"),
        Rejected("no line break at all", lambda: b"session_id," * 7000,
                 f"{name}: line 1 is not a CSV header row (no line break in the first 64 KiB)"),
        Rejected("duplicated column name in the header",
                 lambda: joined([ok[0].replace(b"clinician_id", b"session_id"), *ok[1:]]),
                 f"{name}: line 1, column 4: duplicated column name 'session_id'"),
        Rejected("empty column name (trailing comma) in the header", lambda: joined([ok[0] + b",", *ok[1:]]),
                 f"{name}: line 1, column 18: empty column name"),
        Rejected("non-UTF-8 header", lambda: joined([ok[0].replace(b"site_id", b"site\xe9id"), *ok[1:]]),
                 f"{name}: line 1, column 27: header is not UTF-8 text"),
        Rejected("truncated gzip", lambda: gzip.compress(joined(ok))[:60],
                 f"{name}.gz: not a readable gzip file (EOFError)", ext=".csv.gz"),
        Rejected("2 GB-looking gzip cut short", big_gzip_cut_short,
                 f"{name}.gz: cannot be read: IO Error: Unexpected end of GZIP stream: {name}.gz",
                 ext=".csv.gz"),
        Rejected("plain CSV named .csv.gz", lambda: joined(ok),
                 f"{name}.gz: not a readable gzip file (BadGzipFile)", ext=".csv.gz"),
        Rejected("CSV named .parquet", lambda: joined(ok),
                 "sessions_2025-03.parquet: not a readable Parquet file", ext=".parquet"),
        Rejected("mixed line endings (CR LF file, one LF line)",
                 lambda: b"\r\n".join(ok[:3]) + b"\n" + ok[3] + b"\r\n",
                 f"{name}: line 3: ends with LF while line 1 ends with CR LF (mixed line endings); "
                 f"{UNSPLITTABLE}"),
        Rejected("mixed line endings (LF file, CR LF last line)", lambda: joined(ok[:3]) + ok[3] + b"\r\n",
                 f"{name}: line 4: ends with CR LF while line 1 ends with LF (mixed line endings); "
                 f"{UNSPLITTABLE}"),
        Rejected("stray carriage return inside a line",
                 lambda: joined([*ok[:2], ok[2].replace(b"C-1", b"C\r1"), ok[3]]),
                 f"{name}: line 3: carriage return (CR) without a line feed, while line 1 ends with LF "
                 "(mixed line endings); "
                 f"{UNSPLITTABLE}"),
        Rejected("unterminated quote running over the next lines",
                 lambda: joined([ok[0], ok[1].replace(b",ketamine,", b',"ketamine,'), *ok[2:]]),
                 f"{name}: line 2, column 'drug': a quote opened here is not closed on its line and runs "
                 "over the next 2 line(s), so they cannot be told apart as records; file rejected"),
        Rejected("PHI column (named like an e-mail address)",
                 lambda: csv_bytes("sessions", [{**session(1), "patient_email": "x"}],
                                   [*contract.SESSIONS.column_names, "patient_email"]),
                 f"{name}: column 'patient_email' (line 1, header) is named like an e-mail address "
                 "(email; HIPAA limited data set direct identifier (v) electronic mail address); "
                 "file rejected, values not shown"),
        Rejected("PHI value (SSN in free text)",
                 lambda: csv_bytes("sessions", [session(1), session(2, stop_reason="pt SSN 123-45-6789")]),
                 f"{name}: column 'stop_reason' holds values that look like a US social security number "
                 "(ssn; 1 row, first at line 3); file rejected, values not shown", secret="123-45-6789"),
        Rejected("PHI value (e-mail) in a malformed line",
                 lambda: joined([*ok[:2], b"SE-9,jane.doe@example.org", ok[2]]),
                 f"{name}: column 'csv_line' holds values that look like an e-mail address (email; 1 row, "
                 "first at line 3); file rejected, values not shown", secret="jane.doe@example.org"),
        Rejected("PHI value (e-mail) in a vitals id",
                 lambda: csv_bytes("vitals", [row("vitals"), row("vitals", session_id="jo@clinic-mail.com")]),
                 "vitals_2025-03.csv: column 'session_id' holds values that look like an e-mail address "
                 "(email; 1 row, first at line 3); file rejected, values not shown", export="vitals",
                 secret="jo@clinic-mail.com"),
        # Ids off the network's shape (contract.DEFAULT_ID_PATTERNS, SAFE_ID): issue #12 items 2 and 4.
        Rejected("an MRN delivered as patient_id",
                 lambda: csv_bytes("sessions", [session(1), session(2, patient_id="MRN00123456")]),
                 off_shape(name, "patient_id", 1, 3), secret="MRN00123456"),
        Rejected("a spreadsheet formula as session_id",
                 lambda: csv_bytes("sessions", [session(1), row("sessions", session_id='=HYPERLINK("http://x.test")')]),
                 off_shape(name, "session_id", 1, 3), secret="HYPERLINK"),
        Rejected("a leading @, + or - in clinician_id (run as a formula by spreadsheets)",
                 lambda: csv_bytes("sessions", [session(n, clinician_id=f"{lead}C-{n}")
                                                for n, lead in ((1, "@"), (2, "+"), (3, "-"))]),
                 off_shape(name, "clinician_id", 3, 2)),
        Rejected("a zero-width space inside patient_id",
                 lambda: csv_bytes("sessions", [session(1, patient_id="P-1\u200b"), session(2)]),
                 off_shape(name, "patient_id", 1, 2), secret="\u200b"),
        # Messages (issue #13, item 7): one line naming the file and what is expected.
        Rejected("upper-case header",
                 lambda: joined([ok[0].upper(), *ok[1:]]),
                 f"{name}: line 1: missing required column(s) {REQUIRED} for the sessions export (column "
                 "names are lower case, as in the contract: 'SESSION_ID' should be 'session_id', "
                 "'PATIENT_ID' should be 'patient_id', 'SITE_ID' should be 'site_id' and 9 more)"),
        Rejected("last line without a line break (a partial upload)", lambda: b"\n".join(ok),
                 f"{name}: the last line has no line ending, so the file looks cut short (a partial upload): "
                 f"deliver it again whole, or with {name}.manifest.json ({MANIFEST_SHAPE}) confirming it; "
                 "file rejected"),
        Rejected("Excel's sep=, first line", lambda: joined([b"sep=,", *ok]),
                 f"{name}: line 1 is Excel's 'sep=,' separator hint, not the header row; expected the header "
                 "on line 1 (delete that line, or save as 'CSV UTF-8')"),
        Rejected("Parquet file without required columns",
                 lambda: parquet_bytes("SELECT 'SE-1' AS session_id, 'P-1' AS patient_id"),
                 f"sessions_2025-03.parquet: Parquet schema: missing required column(s) {REQUIRED_AFTER_IDS} "
                 "for the sessions export", ext=".parquet"),
        Rejected("Parquet file with an SSN in free text (rows, not lines)",
                 lambda: parquet_bytes("SELECT * REPLACE (CASE WHEN session_id = 'SE-2' THEN 'pt SSN "
                                       "123-45-6789' END AS stop_reason) FROM read_csv('{csv}', "
                                       "all_varchar=true)", [session(1), session(2)]),
                 "sessions_2025-03.parquet: column 'stop_reason' holds values that look like a US social "
                 "security number (ssn; 1 row, first at row 2); file rejected, values not shown",
                 ext=".parquet", secret="123-45-6789"),
        Rejected("header repeated as a data row (a concatenated export)",
                 lambda: joined([ok[0], ok[1], ok[0], ok[2]]),
                 "\n".join(off_shape(name, column, 1, 3) for column in
                           ("session_id", "patient_id", "site_id", "clinician_id"))),
    ]


MANIFEST_SHAPE = '{"rows": <data records>, "sha256": "<64 hex digits>"}'
REQUIRED = ", ".join(contract.SESSIONS.required_columns)
REQUIRED_AFTER_IDS = ", ".join(c for c in contract.SESSIONS.required_columns
                               if c not in ("session_id", "patient_id"))


def parquet_bytes(select: str, rows: list[dict[str, str]] | None = None) -> bytes:
    """A Parquet file made by DuckDB from `select` ({csv}: a CSV file of `rows`)."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "rows.csv", Path(folder) / "out.parquet"
        source.write_bytes(csv_bytes("sessions", rows or []))
        duckdb.execute(f"COPY ({select.replace('{csv}', str(source))}) TO '{target}' (FORMAT parquet)")
        return target.read_bytes()


def off_shape(file: str, column: str, count: int, first_line: int) -> str:
    """The rejection of values off their id column's shape: the column, a count, a line, no value."""
    values = f"{count} value{'s are' if count != 1 else ' is'}"
    return (f"{file}: column {column!r}: {values} not an id of this network's shape "
            f"({contract.DEFAULT_ID_PATTERNS[column]}), first at line {first_line}; file rejected, values "
            "not shown")


REJECTED = _rejected_cases()


@pytest.mark.parametrize("case", REJECTED, ids=[c.kind for c in REJECTED])
def test_file_rejected_whole_with_a_clear_reason(tmp_path: Path, con, case: Rejected) -> None:
    file = deliver(tmp_path, case.export, case.content(), case.ext)
    result = load_file(con, file)
    assert (result.status, result.reason) == ("rejected", case.reason)
    assert (result.records, result.malformed) == (0, 0)
    versions = con.execute("SELECT source_file, status, is_current, records FROM raw.file_versions")
    assert versions.fetchall() == [(file.path.name, "rejected", False, 0)]
    assert con.execute(f"SELECT count(*) FROM raw.{case.export}").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM raw.malformed_lines").fetchone() == (0,)
    assert load_file(con, file).status == "rejected"  # the same bytes again: still refused, not loaded
    if case.secret:
        assert tables_holding(con, case.secret) == []
        assert "raw.file_versions.source_file" in tables_holding(con, file.path.name)  # the scan sees text


def test_a_rejected_correction_keeps_the_month_as_it_was(tmp_path: Path, con) -> None:
    """A broken re-delivery of a loaded month changes nothing: the good version stays current."""
    good = csv_bytes("sessions", [session(1), session(2)])
    deliver(tmp_path, "sessions", good)
    file = deliver(tmp_path, "sessions", good)
    assert load_file(con, file).status == "loaded"
    file.path.write_bytes(b"\r\n".join(good.split(b"\n")[:2]) + b"\n" + good.split(b"\n")[2] + b"\r\n")
    assert load_file(con, file).status == "rejected"
    assert con.execute("SELECT session_id FROM raw.sessions ORDER BY 1").fetchall() == [("SE-1",), ("SE-2",)]
    assert con.execute("SELECT status FROM raw.file_versions WHERE is_current").fetchall() == [("loaded",)]


# --- the catalogue: files that load, bad rows quarantined ----------------------------------------------

@dataclass(frozen=True)
class Loaded:
    """A kind of bad input that loads: its bad records end quarantined (line -> reasons) or malformed."""

    kind: str
    content: Callable[[], bytes]
    records: int
    export: str = "sessions"
    quarantine: dict[int, list[str]] = field(default_factory=dict)
    malformed: dict[int, str] = field(default_factory=dict)
    collapsed: int = 0
    held: int = 0
    drift: tuple[str, ...] = ()


def _loaded_cases() -> list[Loaded]:
    ok = lines_of("sessions", [session(1), session(2), session(3)])
    vitals = [row("vitals", measured_at=f"2025-03-14T09:{m:02d}:00") for m in (15, 20, 25)]

    def sessions(*rows: dict[str, str]) -> Callable[[], bytes]:
        return lambda: csv_bytes("sessions", [session(1), *rows])

    def vitals_with(*rows: dict[str, str]) -> Callable[[], bytes]:
        return lambda: csv_bytes("vitals", [vitals[0], *rows])

    start = "session_start.wrong_type"
    return [
        Loaded("header only", lambda: joined(ok[:1]), 0),
        Loaded("header only, no final line break", lambda: ok[0], 0),
        Loaded("trailing commas (empty fields after the last column)",
               lambda: joined([ok[0], ok[1] + b",", ok[2] + b',,""', ok[3]]), 3),
        Loaded("schema drift: extra harmless column",
               lambda: csv_bytes("sessions", [{**session(1), "room": "12"}], [*contract.SESSIONS.column_names,
                                                                                  "room"]),
               1, drift=("room",)),
        Loaded("wrong types",
               sessions(session(2, dose_mg="forty"), session(3, serious_adverse_event="maybe")), 3,
               quarantine={3: ["dose_mg.wrong_type"], 4: ["serious_adverse_event.not_allowed"]}),
        Loaded("adverse-event grade too large for an integer (dbt's cast would fail every month)",
               sessions(session(2, adverse_events="nausea:99999999999")), 2,
               quarantine={3: ["adverse_events.bad_grade"]}),
        Loaded("out-of-range values", sessions(session(2, dose_mg="-5", weight_kg="400")), 2,
               quarantine={3: ["dose_mg.out_of_range", "weight_kg.out_of_range"]}),
        Loaded("implausible vital", vitals_with({**vitals[1], "value": "261"}), 2, export="vitals",
               quarantine={3: ["value.implausible"]}),
        Loaded("bad enumerations", sessions(session(2, route="IO", sex="female", drug="Ketamine")), 2,
               quarantine={3: ["drug.not_allowed", "route.not_allowed", "sex.not_allowed"]}),
        Loaded("missing required values", sessions(session(2, route="", dose_mg=" ")), 2,
               quarantine={3: ["dose_mg.missing", "route.missing"]}),
        Loaded("malformed lines: too few and too many fields",
               lambda: joined([ok[0], ok[1], b"SE-9,P-1,S001", ok[2], ok[3] + b",extra"]), 4,
               malformed={3: "MISSING COLUMNS", 5: "TOO MANY COLUMNS"}),
        Loaded("unterminated quote on the last line",
               lambda: joined([*ok[:3], ok[3].replace(b",PTSD", b',"PTSD')]), 3,
               malformed={4: "UNQUOTED VALUE"}),
        Loaded("adjacent malformed lines",
               lambda: joined([ok[0], b"SE-8,x", b"SE-9,y", ok[1], ok[2], b"SE-7", ok[3]]), 6,
               malformed={2: "MISSING COLUMNS", 3: "MISSING COLUMNS", 6: "MISSING COLUMNS"}),
        Loaded("characters after a closing quote",
               lambda: joined([ok[0], ok[1].replace(b"SE-1,", b'"SE-1"x,'), *ok[2:]]),
               3, malformed={2: "UNQUOTED VALUE"}),
        Loaded("invalid UTF-8 line (cut multi-byte character)",
               lambda: joined([*ok[:2], ok[2].replace(b",,", b",\xe2\x82,", 1), ok[3]]), 3,
               malformed={3: "INVALID ENCODING"}),
        Loaded("Latin-1 byte in a value",
               lambda: csv_bytes("sessions", [session(1), session(2, stop_reason="caf\xe9")]).replace(
                   "\xe9".encode(), b"\xe9"), 2, malformed={3: "INVALID ENCODING"}),
        Loaded("exact duplicate rows", sessions(session(1), session(2), session(1)), 4, collapsed=2),
        Loaded("conflicting duplicate rows", sessions(session(2), session(2, dose_mg="41")), 3,
               quarantine={3: ["key.conflict"], 4: ["key.conflict"]}),
        Loaded("orphan vitals (session not loaded)", vitals_with({**vitals[1], "session_id": "SE-404"}), 2,
               export="vitals", quarantine={3: ["session_id.orphan"]}, held=1),
        Loaded("orphan questionnaire (patient not loaded)",
               lambda: csv_bytes("questionnaires", [
                   row("questionnaires"), row("questionnaires", response_id="R-2", patient_id="P-404")]),
               2, export="questionnaires", quarantine={3: ["patient_id.orphan"]}, held=1),
        Loaded("thousands separator, quoted", sessions(session(2, dose_mg="1,234")), 2,
               quarantine={3: ["dose_mg.wrong_type"]}),
        Loaded("thousands separator, unquoted (one field too many)",
               lambda: joined([*ok[:2], ok[2].replace(b",40.5,", b",1,234,")]), 2,
               malformed={3: "TOO MANY COLUMNS"}),
        Loaded("decimal comma",
               vitals_with({**vitals[1], "measure": "heart_rate", "value": "72,5", "unit": "/min"}),
               2, export="vitals", quarantine={3: ["value.wrong_type"]}),
        Loaded("decimal comma in an optional number", sessions(session(2, weight_kg="81,5")), 2,
               quarantine={3: ["weight_kg.wrong_type"]}),
        Loaded("number too large for a double", sessions(session(2, dose_mg="9" * 400)), 2,
               quarantine={3: ["dose_mg.wrong_type"]}),
        Loaded("dates in other formats",
               sessions(*(session(n, session_start=value) for n, value in enumerate(
                   ["03/14/2025 09:30", "14.03.2025 09:30", "2025/03/14 09:30:00", "2025-03-14",
                    "14 Mar 2025"], start=2))),
               6, quarantine={line: [start] for line in range(3, 8)}),
        Loaded("timestamps with a time zone",
               sessions(*(session(n, session_start=value) for n, value in enumerate(
                   ["2025-03-14T09:30:00+02:00", "2025-03-14T09:30:00Z", "2025-03-14 09:30:00-0500"],
                   start=2))),
               4, quarantine={3: [start], 4: [start], 5: [start]}),
        Loaded("accepted timestamp forms (space, minutes only)",
               sessions(session(2, session_start="2025-03-14 09:30:00"),
                        session(3, session_start="2025-03-14T09:30")), 3),
        Loaded("quoted field spanning two lines", sessions(session(2, stop_reason="patient asked\nto stop")),
               2),
        Loaded("blank lines between records (skipped, not records)",
               lambda: joined([ok[0], ok[1], b"", ok[2], b"", b"", ok[3], b""]), 3),
    ]


LOADED = _loaded_cases()


@pytest.mark.parametrize("case", LOADED, ids=[c.kind for c in LOADED])
def test_bad_rows_quarantined_with_reasons_and_accounted(tmp_path: Path, con, case: Loaded) -> None:
    if case.export != "sessions":
        load_sessions_first(con, tmp_path)
    file = deliver(tmp_path, case.export, case.content())
    loaded = load_file(con, file)
    assert (loaded.status, loaded.reason, loaded.drift) == ("loaded", None, case.drift)
    staged = stage_month(con, case.export, MONTH, NOW)
    assert quarantined(con, case.export) == case.quarantine
    assert malformed_lines(con) == case.malformed
    assert (staged.collapsed, staged.held) == (case.collapsed, case.held)
    assert_accounted(con, file, loaded, staged, case.records)


MIXED = {  # content -> the line the rejection names
    "LF, CR LF at line 5": (joined([b"a,b", b"1,2", b"3,4", b"5,6"]) + b"7,8\r\n9,0\n",
                            "line 5: ends with CR LF while line 1 ends with LF (mixed line endings)"),
    "CR LF, LF at line 4": (b"a,b\r\n1,2\r\n3,4\r\n5,6\n7,8\r\n",
                            "line 4: ends with LF while line 1 ends with CR LF (mixed line endings)"),
    "CR, LF at line 3": (b"a,b\r1,2\r3,4\n5,6\r",
                         "line 3: ends with LF while line 1 ends with CR (mixed line endings)"),
    "LF, lone CR in line 2": (b"a,b\n1,\r2\n3,4\n",
                              "line 2: carriage return (CR) without a line feed, while line 1 ends with LF "
                              "(mixed line endings)"),
    "consistent CR LF": (b"a,b\r\n1,2\r\n3,4\r\n", None),
}


@pytest.mark.parametrize("variant", list(MIXED), ids=list(MIXED))
@pytest.mark.parametrize("ext", [".csv", ".csv.gz"])
def test_mixed_line_ending_is_found_wherever_the_reads_split(tmp_path: Path, variant: str, ext: str) -> None:
    """The line named does not depend on where a read chunk ends (a CR LF may straddle two)."""
    content, expected = MIXED[variant]
    path = tmp_path / f"x{ext}"
    path.write_bytes(gzip.compress(content) if ext == ".csv.gz" else content)
    assert {line_ending_problem(path, chunk) for chunk in (1, 2, 3, 5, 1 << 20)} == {expected}


def test_mixed_line_endings_in_a_gzip_cut_short_give_no_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv.gz"
    whole = gzip.compress(b"".join(b"%d,%d\n" % (n, n * 7919 % 10007) for n in range(5000)) + b"1,2\r\n")
    path.write_bytes(whole[: len(whole) // 2])
    assert line_ending_problem(path) is None


# --- line endings and byte-order marks load exactly like plain LF -------------------------------------

def _staged_content(tmp_path: Path, content: bytes, ext: str = ".csv") -> tuple[list[tuple], list[tuple]]:
    """Staging and quarantine rows (values, line number, reasons) after loading `content` on its own."""
    tmp_path.mkdir()
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        file = deliver(tmp_path, "sessions", content, ext)
        loaded = load_file(con, file)
        assert (loaded.status, loaded.reason, loaded.drift) == ("loaded", None, ())
        staged = stage_month(con, "sessions", MONTH, NOW)
        assert_accounted(con, file, loaded, staged, loaded.records)
        columns = ", ".join(f'"{c}"' for c in contract.SESSIONS.column_names)
        staging = con.execute(f"SELECT {columns}, line_number FROM staging.sessions ORDER BY 18").fetchall()
        quarantine = con.execute(
            f"SELECT {columns}, line_number, reasons FROM quarantine.sessions ORDER BY 18").fetchall()
    return staging, quarantine


LF_ROWS = [session(1), session(2, dose_mg="0"), session(3, stop_reason="felt unwell, asked\nto stop"),
           session(4, indication="OCD")]
LINE_ENDINGS = {
    "CR LF (Windows)": lambda b: b.replace(b"\n", b"\r\n"),
    "CR (old Mac)": lambda b: b.replace(b"\n", b"\r"),
    "UTF-8 BOM": lambda b: BOM + b,
    "UTF-8 BOM and CR LF": lambda b: BOM + b.replace(b"\n", b"\r\n"),
    "UTF-8 BOM, quoted header names": lambda b: BOM + b.replace(b"session_id,", b'"session_id",', 1),
    "gzip, BOM and CR LF": lambda b: gzip.compress(BOM + b.replace(b"\n", b"\r\n")),
}


@pytest.mark.parametrize("variant", list(LINE_ENDINGS), ids=list(LINE_ENDINGS))
def test_line_endings_and_bom_load_exactly_like_lf(tmp_path: Path, variant: str) -> None:
    """Same rows, values (no stray CR, no BOM in the first column), line numbers and reasons as LF."""
    plain = csv_bytes("sessions", LF_ROWS)
    expected = _staged_content(tmp_path / "lf", plain)
    assert [r[-2] for r in expected[1]] == [3, 5]  # records: the row spanning two lines is record 4
    assert expected[0][0][0] == "SE-1" and expected[0][1][11] == "felt unwell, asked\nto stop"
    ext = ".csv.gz" if variant.startswith("gzip") else ".csv"
    content = LINE_ENDINGS[variant](plain)
    got = _staged_content(tmp_path / "variant", content, ext)
    if "CR" in variant:  # a line break inside a quoted field is kept as written
        newline = b"\r\n" if "CR LF" in variant else b"\r"
        got = tuple([tuple(v.replace(newline.decode(), "\n") if isinstance(v, str) else v for v in r)
                     for r in part] for part in got)
    assert got == expected


def test_bom_does_not_become_part_of_the_first_column_name(tmp_path: Path, con) -> None:
    file = deliver(tmp_path, "sessions", BOM + csv_bytes("sessions", [session(1)]))
    loaded = load_file(con, file)
    assert (loaded.status, loaded.drift) == ("loaded", ())
    assert con.execute("SELECT session_id FROM raw.sessions").fetchall() == [("SE-1",)]


# --- a known limitation, pinned so that a fix shows up -------------------------------------------------

@pytest.mark.xfail(strict=True, reason="DuckDB counts blank lines in a malformed line's number but skips "
                   "them for rows: rows after a blank line and a malformed line are numbered out of order")
def test_blank_line_before_a_malformed_line_keeps_line_order(tmp_path: Path, con) -> None:
    ok = lines_of("sessions", [session(1), session(2), session(3)])
    file = deliver(tmp_path, "sessions", joined([ok[0], ok[1], b"", b"", b"SE-9,short", ok[2], ok[3]]))
    loaded = load_file(con, file)
    assert loaded.records == 4 and list(malformed_lines(con).values()) == ["MISSING COLUMNS"]
    [bad] = malformed_lines(con)
    numbered = dict(con.execute("SELECT session_id, line_number FROM raw.sessions").fetchall())
    assert numbered["SE-1"] < bad < numbered["SE-2"] < numbered["SE-3"]  # the file's order
