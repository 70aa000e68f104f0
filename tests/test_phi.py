"""PHI guard: header and value scans over real temporary CSV files read by DuckDB."""

from __future__ import annotations

import csv
import dataclasses
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pytest

from pipelines import contract
from pipelines.ingest import phi
from pipelines.ingest.phi import PhiFinding, PhiRejected, scan_header, scan_values
from pipelines.sql import lit
from pipelines.tools.synth import SynthConfig, generate


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str | None]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def text_relation(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, list[str]]:
    """Every column of the file as text plus line_number, the way the loader reads files."""
    source = (
        f"read_csv('{path}', header=true, delim=',', quote='\"', escape='\"', all_varchar=true, "
        "null_padding=false)"
    )
    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    select = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in columns)
    return f"(SELECT {select}, row_number() OVER () + 1 AS line_number FROM {source})", columns


def scan_file(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[PhiFinding, ...]:
    relation, columns = text_relation(con, path)
    return scan_values(con, path.name, relation, columns)


# --- Ordinary export rows ------------------------------------------------------------------------
ORDINARY_STOP_REASONS = (
    "patient request", "hypertension", "nausea/vomiting", "emergence reaction", "BP 185/112",
    "nausea and vomiting", "HR 128, BP 182/110 at 40 min", "stopped at 25 min per protocol",
    "SpO2 88% on room air", "seen by Dr at 40 min", "dose 0.5 mg/kg over 40 min", "anxiety (grade 2)",
    "2 doses given, then stopped", None,
)
ORDINARY_AES = ("nausea:2;dizziness:1", "dissociation:1", "vertigo:1", "headache:7", "blurred_vision:2", None)


def sessions_rows(n: int) -> list[list[str | None]]:
    """Ordinary sessions rows, including values the defect injector writes (`abc`, `n.a.`, `-35.0`)."""
    rows = []
    for i in range(n):
        row = {
            "session_id": f"SE-{(i * 2654435761) % 16**12:012x}",
            "patient_id": f"P-3fa9c2e1{i % 256:02x}",
            "site_id": f"SE-{i % 7:02d}",
            "clinician_id": f"C-{(i * 40503) % 16**8:08x}" if i % 9 else None,
            "session_start": f"2025-03-{1 + i % 28:02d}T{8 + i % 8:02d}:{(i * 5) % 60:02d}:00",
            "drug": contract.DRUGS[i % 2],
            "route": contract.ROUTES[i % len(contract.ROUTES)],
            "dose_mg": ("35.0", "56.0", "84.0", "abc", "-35.0", "0.0", "n.a.", "1O")[i % 8],
            "weight_kg": f"{60 + (i * 7) % 90}.{i % 10}",
            "duration_min": str(40 + i % 90),
            "status": contract.STATUSES[i % 3],
            "stop_reason": ORDINARY_STOP_REASONS[i % len(ORDINARY_STOP_REASONS)],
            "adverse_events": ORDINARY_AES[i % len(ORDINARY_AES)],
            "serious_adverse_event": contract.BOOLEANS[i % 2],
            "age_band": contract.AGE_BANDS[i % len(contract.AGE_BANDS)],
            "sex": contract.SEXES[i % len(contract.SEXES)],
            "indication": contract.INDICATIONS[i % len(contract.INDICATIONS)],
        }
        rows.append([row[c] for c in contract.SESSIONS.column_names])
    return rows


def write_sessions(path: Path, n: int = 30, extra: dict[str, list[str | None]] | None = None) -> Path:
    header = list(contract.SESSIONS.column_names)
    rows = sessions_rows(n)
    for name, values in (extra or {}).items():
        header.append(name)
        for row, value in zip(rows, values, strict=True):
            row.append(value)
    return write_csv(path, header, rows)


# --- Header scan ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("name", "name"), ("first_name", "name"), ("LastName", "name"), ("surname", "name"),
        ("Patient Name", "name"), ("full_name", "name"), ("FIRSTNAME", "name"),
        ("emergency_contact_name", "name"),
        ("dob", "date_of_birth"), ("DOB", "date_of_birth"), ("date_of_birth", "date_of_birth"),
        ("birthDate", "date_of_birth"), ("birthdate", "date_of_birth"), ("DateOfBirth", "date_of_birth"),
        ("ssn", "ssn"), ("SSN", "ssn"), ("social_security_number", "ssn"), ("patientSSN", "ssn"),
        ("mrn", "mrn"), ("MRN", "mrn"), ("medical_record_number", "mrn"), ("medicalRecordNo", "mrn"),
        ("email", "email"), ("E-Mail", "email"), ("patientEmail", "email"), ("email_address", "email"),
        ("phone", "phone"), ("telephone", "phone"), ("mobile", "phone"), ("cell", "phone"),
        ("home_phone_number", "phone"), ("PhoneNumber", "phone"), ("pt_cell", "phone"), ("fax", "fax"),
        ("address", "street_address"), ("street", "street_address"),
        ("home_address_line_1", "street_address"),
        ("city", "city"), ("zip", "zip"), ("zipcode", "zip"), ("ZipCode", "zip"), ("postal_code", "zip"),
        ("zip3", "zip"), ("ip", "ip_address"), ("ip_address", "ip_address"), ("IPAddress", "ip_address"),
        ("insurance_id", "health_plan_id"), ("medicaid_number", "health_plan_id"),
        ("account_number", "account_number"), ("drivers_license_no", "license_number"),
        ("device_serial_number", "device_id"), ("url", "url"), ("latitude", "geolocation"),
        ("county", "county"), ("photo", "photo"), ("fingerprint", "biometric"), ("vin", "vehicle_id"),
        ("date_of_death", "date_of_death"), ("discharge_date", "admission_date"),
    ],
)
def test_header_flags_identifier_columns_with_their_kind(column: str, kind: str) -> None:
    columns = [*contract.SESSIONS.column_names, column]
    scan = scan_header("sessions_2025-03.csv", "sessions", columns)
    assert scan.phi == (PhiFinding("sessions_2025-03.csv", column, kind, "header", 0, 1),)
    assert scan.drift == ()
    assert scan.missing_required == ()


HARMLESS = (
    "description", "pipeline", "zipper", "ship_date", "stop_reason_code", "site_name", "drug_name",
    "notes", "comment", "cell_count", "wbc_cell_count", "ethnicity", "capacity", "tip", "filename",
    "hostname", "apt_date", "license_type", "dosage", "visit_number", "batch_id", "export_version",
    "state", "country", "nameless", "Site_ID", "patientid", "record_count", "timezone", "unit_code",
    "hospital_id", "contact_id", "emergency_contact_id", "device_model", "username",
)


def test_header_puts_harmless_unknown_columns_in_drift() -> None:
    columns = [*contract.VITALS.column_names, *HARMLESS]
    scan = scan_header("vitals_2025-03.csv", "vitals", columns)
    assert scan.phi == ()
    assert scan.drift == HARMLESS


@pytest.mark.parametrize("name", HARMLESS)
def test_token_matching_not_substrings(name: str) -> None:
    assert phi.identifier_kind(name) is None


@pytest.mark.parametrize("export", contract.EXPORTS)
def test_contract_columns_are_never_flagged(export: str) -> None:
    columns = contract.export(export).column_names
    assert scan_header(f"{export}_2025-03.csv", export, columns) == phi.HeaderScan((), (), ())
    # Not only skipped: their names do not read as identifiers either.
    assert [c for c in columns if phi.identifier_kind(c)] == []


def test_header_reports_missing_required_columns() -> None:
    columns = [c for c in contract.VITALS.column_names if c not in ("unit", "value")]
    scan = scan_header("vitals_2025-03.csv", "vitals", [*columns, "first_name", "device_model"])
    assert scan.missing_required == ("value", "unit")
    assert [(f.column, f.kind) for f in scan.phi] == [("first_name", "name")]
    assert scan.drift == ("device_model",)


LDS_ITEMS = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv",
             "xvi")


def test_every_rule_names_a_hipaa_identifier_and_a_message_label() -> None:
    """Each rule is one of the limited data set's 16 direct identifiers, 164.514(e)(2)(i)-(xvi),
    or something a limited data set may hold that the outcomes do not need; all 16 are covered."""
    covered = set()
    for rule in phi.HEADER_RULES:
        item = re.match(r"^\(([ivx]+)\) ", rule.hipaa)
        assert item or rule.hipaa.endswith(phi.NOT_NEEDED), rule
        if item:
            assert item.group(1) in LDS_ITEMS
            covered.add(item.group(1))
        assert rule.kind in phi._KIND_LABELS
    assert covered == set(LDS_ITEMS)


def test_a_data_row_used_as_header_is_withheld(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """A file exported without its header row: the 'column names' are values and must not be echoed."""
    path = tmp_path / "sessions_2025-03.csv"
    header = ["SE-0a1b2c3d4e5f", "555-123-4567", "jane.roe@example.org", "Jane Roe"]
    write_csv(path, header, [["SE-1", "x", "y", "z"]])
    _, columns = text_relation(con, path)
    scan = scan_header(path.name, "sessions", columns)
    assert {(f.column, f.kind) for f in scan.phi} == {
        ("<column 2, name withheld>", "phone"), ("<column 3, name withheld>", "email"),
    }
    # No contract column at all: the unknown names are withheld as well (a name is not a pattern).
    assert scan.drift == ("<column 1, name withheld>", "<column 4, name withheld>")
    assert "session_id" in scan.missing_required
    text = str(PhiRejected(scan.phi)) + " ".join(scan.drift)
    for value in header:
        assert value not in text


# --- Value scan ----------------------------------------------------------------------------------
VALUE_CASES = [
    ("123-45-6789", "ssn"),
    ("SSN 987 65 4329 on file", "ssn"),
    ("jane.doe@example.org", "email"),
    ("reach her at j_doe+clinic@mail.example.co.uk please", "email"),
    ("(555) 123-4567", "phone"),
    ("555-123-4567", "phone"),
    ("+1 555 123 4567", "phone"),
    ("555.123.4567", "phone"),
    ("1-555-123-4567", "phone"),
    ("+15551234567", "phone"),
    ("patient request, call back at (555)123-4567", "phone"),
    ("123 Main St", "street_address"),
    ("42 W Elm Avenue Apt 5", "street_address"),
    ("lives at 1600 Pennsylvania Avenue NW, Washington", "street_address"),
    ("77 MASSACHUSETTS AVE", "street_address"),
    ("PO Box 4417", "street_address"),
]
INJECT_AT = (4, 9, 17)  # row indexes; line = index + 2 (line 1 is the header)


@pytest.mark.parametrize(("value", "kind"), VALUE_CASES)
def test_value_patterns_in_free_text_contract_column(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, value: str, kind: str
) -> None:
    stop = contract.SESSIONS.column_names.index("stop_reason")
    data = sessions_rows(30)
    for index in INJECT_AT:
        data[index][stop] = value
    path = write_csv(tmp_path / "sessions_2025-03.csv", contract.SESSIONS.column_names, data)
    expected = PhiFinding(path.name, "stop_reason", kind, "values", len(INJECT_AT), INJECT_AT[0] + 2)
    assert scan_file(con, path) == (expected,)


@pytest.mark.parametrize(("value", "kind"), VALUE_CASES)
def test_value_patterns_in_unknown_column(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, value: str, kind: str
) -> None:
    notes: list[str | None] = ["ok", None, "follow-up in 2 weeks", "BP 150/95"] * 7 + ["ok", "ok"]
    notes[11] = value
    notes[25] = value
    path = write_sessions(tmp_path / "sessions_2025-03.csv", extra={"notes": notes})
    relation, columns = text_relation(con, path)
    assert scan_header(path.name, "sessions", columns).drift == ("notes",)
    assert scan_values(con, path.name, relation, columns) == (
        PhiFinding(path.name, "notes", kind, "values", 2, 13),
    )


@pytest.mark.parametrize(("value", "kind"), VALUE_CASES)
@pytest.mark.parametrize("column", ["site_id", "patient_id", "route", "session_start", "dose_mg"])
def test_value_patterns_in_strict_contract_columns(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, value: str, kind: str, column: str
) -> None:
    """Ids, vocabulary, timestamp and number columns skip most values cheaply but still catch these."""
    data = sessions_rows(12)
    data[7][contract.SESSIONS.column_names.index(column)] = value
    path = write_csv(tmp_path / "sessions_2025-03.csv", contract.SESSIONS.column_names, data)
    assert scan_file(con, path) == (PhiFinding(path.name, column, kind, "values", 1, 9),)


def test_cheap_gate_never_hides_a_match(con: duckdb.DuckDBPyConnection) -> None:
    """Fuzz: every value a strict pattern matches passes the regex-free gate of its column."""
    rng = random.Random(5)
    fragments = [
        "1", "23", "555", "45", "6789", "4567", "555-", "123-", "45-", "555.", "123.", "555 ", "-", ".", " ",
        "@", "(555)", "+1", "T", ":", "Main ", "ST", "St", "Ave", "Box ", "PO ", "a", "x.org", "SE-",
        "2025-03-14T09:30:00",
    ]
    values = [v for v, _ in VALUE_CASES]
    values += ["".join(rng.choices(fragments, k=rng.randint(1, 9))) for _ in range(100_000)]
    values += [f"2025-03-14T{v}" for v in values[:20]] + [v.replace(" ", "") for v in values[:20]]
    con.execute("CREATE TEMP TABLE fuzz AS SELECT unnest(?::VARCHAR[]) AS v", [values])
    strict = lit("|".join(f"(?:{p})" for p in phi.STRICT_PATTERNS.values()))
    matched = con.execute(f"SELECT count_if(regexp_matches(v, {strict})) FROM fuzz").fetchone()
    assert matched is not None and matched[0] > 500  # the fuzz really produces matches
    for column in ("site_id", "route", "session_start", "dose_mg"):
        gate = phi._gate_expr("v", contract.SESSIONS.column(column), strict=True)
        hidden = con.execute(
            f"SELECT count_if(regexp_matches(v, {strict}) AND NOT coalesce({gate}, false)) FROM fuzz"
        ).fetchone()
        assert hidden == (0,), column


def test_loose_patterns_only_in_free_text_and_unknown_columns(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    """A bare 9-digit run is an SSN in notes, but a normal stretch of a hex id."""
    n = 30
    notes: list[str | None] = [None] * n
    notes[3] = "ssn 123456789"
    notes[4] = "ref SE-a123456789b, batch 2025_123456789"  # codes, not SSNs
    notes[5] = "logged from 10.1.2.3"
    path = write_sessions(tmp_path / "sessions_2025-03.csv", n, extra={"notes": notes})
    with path.open(newline="") as fh:
        data = list(csv.reader(fh))
    data[8][0] = "SE-a123456789b"  # session_id with a bare 9-digit run
    data[9][1] = "P-123456789"
    write_csv(path, data[0], data[1:])
    findings = scan_file(con, path)
    assert {(f.column, f.kind, f.rows, f.first_line) for f in findings} == {
        ("notes", "ssn", 1, 5), ("notes", "ip_address", 1, 7),
    }


def test_every_column_is_scanned_including_typed_ones(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    rows = [
        ["SE-0a1b2c3d4e5f", "2025-03-14T09:30:00", "systolic_bp", "128", "mmHg"],
        ["SE-0a1b2c3d4e5f", "2025-03-14T09:35:00", "8480-6", "555-123-4567", "mmHg"],
        ["SE-0a1b2c3d4e5f", "123-45-6789", "heart_rate", "80", "/min"],
        ["SE-0a1b2c3d4e5f", "2025-03-14T09:45:00", "john@example.com", "97.5", "%"],
        ["SE-0a1b2c3d4e5f", "2025-03-14T09:50:00", "spo2", "97.5", "12 Oak Lane"],
        ["jane@example.com", "2025-03-14 09:55:00", "59408-5", "97", "%"],
    ]
    path = write_csv(tmp_path / "vitals_2025-03.csv", contract.VITALS.column_names, rows)
    findings = scan_file(con, path)
    assert {(f.column, f.kind, f.rows, f.first_line) for f in findings} == {
        ("value", "phone", 1, 3), ("measured_at", "ssn", 1, 4), ("measure", "email", 1, 5),
        ("unit", "street_address", 1, 6), ("session_id", "email", 1, 7),
    }


def test_ordinary_export_values_produce_no_finding(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    sessions = write_sessions(tmp_path / "sessions_2025-03.csv", n=200)
    vitals_rows = [
        [f"SE-{i * 7919 % 16**12:012x}", f"2025-03-14T{9 + i % 8:02d}:{i % 12 * 5:02d}:00", code,
         value, unit]
        for i, (code, value, unit) in enumerate(
            [(code, value, m.unit) for m in contract.VITAL_MEASURES for code in (m.name, *m.loinc)
             for value in (str(m.plausible_min), str(m.plausible_max), "97.5", "128", "0.0", "abc", "-12.5")]
        )
    ]
    vitals = write_csv(tmp_path / "vitals_2025-03.csv", contract.VITALS.column_names, vitals_rows)
    questionnaire_rows = [
        [f"R-{i:012x}", "P-3fa9c2e1b0", f"SE-{i:012x}" if i % 3 else None, inst.name,
         "2025-03-14T09:30:00", str(item), str(item % (inst.item_max + 1))]
        for i, inst in enumerate(contract.INSTRUMENTS) for item in range(1, inst.n_items + 1)
    ]
    questionnaires = write_csv(
        tmp_path / "questionnaires_2025-03.csv", contract.QUESTIONNAIRES.column_names, questionnaire_rows
    )
    for path in (sessions, vitals, questionnaires):
        relation, columns = text_relation(con, path)
        export = path.name.split("_")[0]
        assert scan_header(path.name, export, columns) == phi.HeaderScan((), (), ())
        assert scan_values(con, path.name, relation, columns) == ()


@pytest.mark.parametrize(
    "value",
    ["P-3fa9c2e1b0", "SE-0123456789ab", "C-0a1b2c3d", "R-000000000001", "SE-01", "2025-03-14T09:30:00",
     "2025-03-14 09:30:00", "2025-03-14", "nausea:2;dizziness:1", "8480-6", "59408-5", "2708-6", "113.1",
     "-35.0", "0.0", "1O", "n.a.", "patient request", "BP 185/112", "nausea and vomiting", "hypertension",
     "emergence reaction", "2 IV Dr notified", "seen by 2 nurses and Dr Smith", "40 min due to the way",
     "HR 120 140 150", "1741944600", "12345678901", "dose 0.5 mg/kg at 10:30"],
)
def test_ordinary_values_match_no_pattern(value: str) -> None:
    assert [k for k, p in phi._PY_LOOSE.items() if p.search(value)] == []


def test_contract_vocabulary_matches_no_pattern() -> None:
    """Vocabulary values are skipped by the gate, so they must be unable to match."""
    vocabulary = {v for exp in contract.CONTRACT.values() for c in exp.columns for v in c.allowed or ()}
    assert [v for v in vocabulary if any(p.search(v) for p in phi._PY_LOOSE.values())] == []


def test_python_and_duckdb_patterns_agree(con: duckdb.DuckDBPyConnection) -> None:
    """Header names are checked with Python `re`, values with RE2: the two must read the patterns alike."""
    samples = [v for v, _ in VALUE_CASES] + ["P-3fa9c2e1b0", "2025-03-14T09:30:00", "123456789", "10.0.0.1"]
    for value in samples:
        for kind, pattern in phi.LOOSE_PATTERNS.items():
            duck = con.execute("SELECT regexp_matches(?, ?)", [value, pattern]).fetchone()
            assert duck is not None
            assert duck[0] == bool(phi._PY_LOOSE[kind].search(value)), (value, kind)


def test_generated_exports_with_defects_produce_no_finding(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    generate(tmp_path, SynthConfig(sites=2, patients=30, months=2, start_month="2025-01", seed=11,
                                   defect_rate=0.2))
    files = sorted(p for p in tmp_path.rglob("*") if contract.FILE_NAME_RE.match(p.name))
    assert len(files) == 6
    for path in files:
        # ignore_errors: the malformed-line defects are the loader's business, not this test's.
        source = f"read_csv('{path}', header=true, all_varchar=true, ignore_errors=true)"
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        relation = f"(SELECT *, row_number() OVER () + 1 AS line_number FROM {source})"
        export = contract.FILE_NAME_RE.match(path.name)["export"]  # type: ignore[index]
        assert scan_header(path.name, export, columns).phi == ()
        assert scan_values(con, path.name, relation, columns) == (), path.name
        # The loader also scans malformed lines whole, as one unknown text column.
        lines = (
            f"(SELECT csv_line, row_number() OVER () AS line_number FROM read_csv('{path}', header=false, "
            "columns={'csv_line': 'VARCHAR'}, delim=chr(1), quote='', escape=''))"
        )
        assert scan_values(con, path.name, lines, ["csv_line"]) == (), path.name


def test_empty_file_and_no_columns(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    path = write_csv(tmp_path / "vitals_2025-03.csv", contract.VITALS.column_names, [])
    assert scan_file(con, path) == ()
    assert scan_values(con, path.name, "(SELECT 1 AS line_number)", []) == ()


# --- Messages ------------------------------------------------------------------------------------
def test_messages_name_file_column_kind_but_never_the_value(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    fake = {"ssn": "219-09-9999", "email": "maria.gonzalez@example.net", "phone": "(617) 555-0142",
            "street_address": "221 Baker Street"}
    notes: list[str | None] = [None] * 30
    reasons: list[str | None] = [None] * 30
    for i, value in enumerate(fake.values()):
        notes[3 * i] = value
        reasons[3 * i + 1] = f"called {value}"
    path = write_sessions(tmp_path / "sessions_2025-03.csv", extra={"notes": notes, "patient_email": reasons})
    relation, columns = text_relation(con, path)
    header = scan_header(path.name, "sessions", columns)
    findings = header.phi + scan_values(con, path.name, relation, columns)
    assert {(f.column, f.kind) for f in findings} >= {
        ("patient_email", "email"), *((c, k) for c in ("notes", "patient_email") for k in fake)
    }
    for finding in findings:
        message = finding.message()
        assert path.name in message and f"'{finding.column}'" in message and finding.kind in message
        assert "file rejected" in message
        if finding.where == "values":
            assert f"{finding.rows} row" in message and f"line {finding.first_line}" in message
        for value in fake.values():
            assert value not in message
    error = PhiRejected(findings)
    assert isinstance(error, ValueError)
    assert error.findings == findings
    text = str(error)
    assert text.splitlines() == [f.message() for f in findings]
    for value in fake.values():
        assert value not in text
        for part in value.replace("(", " ").replace(")", " ").replace("-", " ").split():
            if len(part) > 3:
                assert part not in text, part


def test_message_example_shape() -> None:
    finding = PhiFinding("vitals_2025-03.csv", "notes", "ssn", "values", 12, 17)
    assert finding.message() == (
        "vitals_2025-03.csv: column 'notes' holds values that look like a US social security number "
        "(ssn; 12 rows, first at line 17); file rejected, values not shown"
    )
    header = PhiFinding("vitals_2025-03.csv", "dob", "date_of_birth", "header", 0, 1)
    assert header.message().startswith("vitals_2025-03.csv: column 'dob' (line 1, header) is named like")
    assert dataclasses.is_dataclass(finding)
