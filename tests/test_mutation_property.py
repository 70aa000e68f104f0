"""Property: however a valid export is mangled, load + stage never lose a row, crash, or store PHI.

Small valid exports of a generated network are mutated at random (lines dropped, duplicated,
swapped, cut; fields deleted, inserted, replaced by odd text, huge numbers or PHI; line endings
changed; a BOM added; the file cut short), then run through the real `load_file` and
`stage_month` on a fresh DuckDB file per example. Whatever happens must be one of:
- the file is rejected whole, its reason naming the file, and nothing of it is stored;
- the file loads, and every record is in raw (then staged, quarantined or collapsed as an
  exact copy) or in raw.malformed_lines, once, at its record number, with
  quarantine.file_accounting balanced; where Python's strict CSV parser reads the file too,
  the record count and every well-formed record's values agree with it.
In both cases an inserted SSN or e-mail address appears in no text value of the warehouse and
not in its file bytes, and a file still holding one is rejected.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipelines import contract
from pipelines.ingest.discover import LandingFile
from pipelines.ingest.load import load_file
from pipelines.ingest.tables import ensure_ingest_tables
from pipelines.tools.synth import SynthConfig, generate
from pipelines.validate.quarantine import ensure_validate_tables, stage_month
from tests.test_bad_input_catalogue import BOM, assert_accounted, tables_holding

MONTH = "2025-01"
NETWORK = SynthConfig(sites=1, patients=6, months=1, start_month=MONTH, seed=7)
BASE_ROWS = 8  # data lines per mutated file: small enough for speed, enough for duplicates and swaps
SSN, EMAIL = "123-45-6789", "jane.doe@example.org"
SECRETS = (SSN, EMAIL)
FREE_TEXT = {"sessions": "stop_reason"}  # where PHI goes when there is a free-text column
# Reproducible in CI: derandomized, no example database; sized for well under 90 s on two cores.
PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# --- the valid starting point ------------------------------------------------------------------------

@dataclass(frozen=True)
class Base:
    """The network's files and warehouse templates: empty, and with the month's sessions staged."""

    folder: Path
    lines: dict[str, list[bytes]]  # export -> header + BASE_ROWS data lines
    empty: Path
    with_sessions: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    folder = tmp_path_factory.mktemp("mutation")
    generate(folder / "landing", NETWORK)
    lines = {name: (folder / "landing" / name / contract.file_name(name, MONTH)).read_bytes().split(b"\n")
             [: BASE_ROWS + 1] for name in contract.EXPORTS}
    empty, with_sessions = folder / "empty.duckdb", folder / "with_sessions.duckdb"
    with duckdb.connect(str(empty)) as con:
        ensure_ingest_tables(con)
        ensure_validate_tables(con)
    shutil.copyfile(empty, with_sessions)
    with duckdb.connect(str(with_sessions)) as con:
        sessions = folder / "landing" / "sessions" / contract.file_name("sessions", MONTH)
        assert load_file(con, LandingFile("sessions", MONTH, sessions)).status == "loaded"
        assert stage_month(con, "sessions", MONTH).balanced
    return Base(folder, lines, empty, with_sessions)


# --- mutations -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Export:
    """A file being mutated: records (bytes, no terminator) each with its terminator, BOM, cut point."""

    records: tuple[bytes, ...]
    endings: tuple[bytes, ...]
    bom: bool = False
    cut: int | None = None  # keep only this fraction (per mille) of the bytes
    secrets: frozenset[str] = field(default_factory=frozenset)

    def to_bytes(self) -> bytes:
        lines = b"".join(r + e for r, e in zip(self.records, self.endings, strict=True))
        data = (BOM if self.bom else b"") + lines
        return data if self.cut is None else data[: max(1, len(data) * self.cut // 1000)]


def _fields(record: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(record.decode("utf-8", "surrogateescape"), newline="")))
    return [value for r in rows for value in r] if rows else []


def _record(fields: list[str]) -> bytes:
    """One CSV record; the writer quotes fields holding CR or LF only when they are its line terminator."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)
    return out.getvalue().removesuffix("\r\n").encode("utf-8", "surrogateescape")


ODD_VALUES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
    st.text(max_size=4),  # control characters too
    st.sampled_from(["", " ", '"', ",", "\n", "\r\n", "1,234", "36,6", "NaN", "inf", "-0", "1e3", "0x1F",
                     "2025-01-15T10:00:00+02:00", "01/15/2025", "9" * 400, "-" + "9" * 40, "0.0000001"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@st.composite
def mutation(draw: st.DrawFn, export: str, current: Export) -> Export:
    """One random change to `current`: a line, a field, the line endings, a BOM or the file's end."""
    records, endings = list(current.records), list(current.endings)
    n = len(records)
    data_line = draw(st.integers(1, max(1, n - 1))) if n > 1 else 0
    kind = draw(st.sampled_from(["drop", "duplicate", "swap", "delete_field", "insert_field", "truncate",
                                 "replace_value", "phi", "endings", "one_ending", "bom", "cut"]))
    if kind == "drop" and n > 1:
        del records[data_line], endings[data_line]
    elif kind == "duplicate":
        records.insert(data_line, records[data_line])
        endings.insert(data_line, endings[data_line])
    elif kind == "swap":
        other = draw(st.integers(0, n - 1))
        records[data_line], records[other] = records[other], records[data_line]
    elif kind in ("delete_field", "insert_field", "replace_value", "phi"):
        fields = _fields(records[data_line])
        at = draw(st.integers(0, max(0, len(fields) - 1)))
        secrets = current.secrets
        if kind == "delete_field" and len(fields) > 1:
            del fields[at]
        elif kind == "insert_field":
            fields.insert(at, draw(ODD_VALUES))
        elif kind == "replace_value" and fields:
            fields[at] = draw(ODD_VALUES)
        elif kind == "phi" and fields:
            secret = draw(st.sampled_from(SECRETS))
            columns = contract.export(export).column_names
            if export in FREE_TEXT and draw(st.booleans()):
                at = columns.index(FREE_TEXT[export])
            fields[at % len(fields)] = draw(st.sampled_from([secret, f"pt called {secret} twice"]))
            secrets = secrets | {secret}
        if fields:
            records[data_line] = _record(fields)
        return replace(current, records=tuple(records), endings=tuple(endings), secrets=secrets)
    elif kind == "truncate" and len(records[data_line]) > 1:
        records[data_line] = records[data_line][: draw(st.integers(1, len(records[data_line]) - 1))]
    elif kind == "endings":
        ending = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
        endings = [ending] * len(endings)
    elif kind == "one_ending":
        endings[data_line] = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    elif kind == "bom":
        return replace(current, bom=True)
    elif kind == "cut":
        return replace(current, cut=draw(st.integers(1, 999)))
    return replace(current, records=tuple(records), endings=tuple(endings))


@st.composite
def mutated_export(draw: st.DrawFn, lines: dict[str, list[bytes]]) -> tuple[str, Export]:
    export = draw(st.sampled_from(contract.EXPORTS))
    current = Export(tuple(lines[export]), (b"\n",) * len(lines[export]))
    for _ in range(draw(st.integers(1, 5))):
        current = draw(mutation(export, current))
    return export, current


# --- what Python's own CSV reader makes of the file --------------------------------------------------

def python_records(data: bytes) -> list[list[str]] | None:
    """Header and data records by Python's strict CSV parser; None if it refuses the file or its encoding."""
    try:
        text = data.removeprefix(BOM).decode("utf-8")
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
    except (UnicodeDecodeError, csv.Error):
        return None
    return rows or None


# --- the property --------------------------------------------------------------------------------------

def _holds_secret(path: Path, secret: str) -> bool:
    """The secret's bytes anywhere in the DuckDB file or its write-ahead log."""
    return any(p.exists() and secret.encode() in p.read_bytes() for p in (path, Path(f"{path}.wal")))


@PROPERTY
@given(data=st.data())
def test_mutated_exports_are_loaded_or_rejected_never_lost(base: Base, data: st.DataObject) -> None:
    export, mutated = data.draw(mutated_export(base.lines))
    content = mutated.to_bytes()
    with tempfile.TemporaryDirectory(dir=base.folder) as folder:
        work = Path(folder)
        warehouse = work / "build.duckdb"
        shutil.copyfile(base.empty if export == "sessions" else base.with_sessions, warehouse)
        (work / export).mkdir()
        file = LandingFile(export, MONTH, work / export / contract.file_name(export, MONTH))
        file.path.write_bytes(content)
        with duckdb.connect(str(warehouse)) as con:
            loaded = load_file(con, file)
            event(f"{loaded.status}: {(loaded.reason or '').split(': ', 1)[-1][:40]}")
            rows_of_file = f"source_file = '{file.path.name}' AND file_sha256 = '{loaded.sha256}'"
            if loaded.status == "rejected":
                assert loaded.reason and loaded.reason.startswith(f"{file.path.name}: "), loaded.reason
                for table in (f"raw.{export}", "raw.malformed_lines"):
                    stored = con.execute(f"SELECT count(*) FROM {table} WHERE {rows_of_file}").fetchone()
                    assert stored == (0,), table
            else:
                assert loaded.status == "loaded", loaded
                staged = stage_month(con, export, MONTH)
                assert_accounted(con, file, loaded, staged, loaded.records)
                _agrees_with_python(con, export, content, loaded.records)
                _staging_numbers_are_finite(con, export)
            for secret in mutated.secrets:
                if secret.encode() in content:
                    assert loaded.status == "rejected", (secret, loaded)
                assert tables_holding(con, secret) == []
        for secret in mutated.secrets:
            assert not _holds_secret(warehouse, secret)


def _agrees_with_python(con: duckdb.DuckDBPyConnection, export: str, content: bytes, records: int) -> None:
    """Where Python's strict CSV parser reads the file, DuckDB saw the same records with the same values."""
    parsed = python_records(content)
    if parsed is None:
        return
    header, expected = [c.strip() for c in parsed[0]], parsed[1:]
    assert records == len(expected)
    wanted = [c for c in contract.export(export).column_names if c in header]
    select = ", ".join(f'"{c}"' for c in wanted)
    raw = {line: values for line, *values in con.execute(
        f"SELECT line_number, {select} FROM raw.{export} WHERE export_month = '{MONTH}'").fetchall()}
    malformed = {n for (n,) in con.execute(
        f"SELECT line_number FROM raw.malformed_lines WHERE export = '{export}'").fetchall()}
    for line, fields in enumerate(expected, start=2):
        # DuckDB drops empty fields after the last column (a trailing comma): no value is lost.
        if len(fields) < len(header) or any(fields[len(header):]):
            assert line in malformed, (line, fields)
            continue
        assert line in raw, (line, fields)
        by_name = dict(zip(header, fields[: len(header)], strict=True))
        assert raw[line] == [by_name[c] or None for c in wanted], line


def _staging_numbers_are_finite(con: duckdb.DuckDBPyConnection, export: str) -> None:
    for column in (c.name for c in contract.export(export).columns if c.dtype == "DOUBLE"):
        infinite = con.execute(f'SELECT count(*) FROM staging.{export} WHERE NOT isfinite("{column}")')
        assert infinite.fetchone() == (0,), column
