"""Read an export file's header row without reading its data.

DuckDB's CSV reader is told the columns explicitly (no sniffing, which gives up on
broken files), so the header is read here first: that is also where the PHI guard
looks for identifier columns and where missing required columns are found.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from pathlib import Path
from typing import BinaryIO

import duckdb

from pipelines.ingest.discover import LandingFile
from pipelines.ingest.phi import shown_column

MAX_HEADER_BYTES = 64 * 1024
# Bytes that never occur in CSV text (NUL and C0 controls other than tab, LF, CR): a binary file.
CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")


class FileRejected(ValueError):
    """A whole file refused before loading; the message names the file and never quotes a value."""


def _first_line(raw: bytes) -> bytes:
    """Bytes before the first line break: LF, CR LF or a lone CR (old Mac files; DuckDB reads those too)."""
    ends = [i for i in (raw.find(b"\n"), raw.find(b"\r")) if i >= 0]
    return raw[:min(ends)] if ends else raw


def _read_head(path: Path) -> bytes:
    """The first bytes of a file, decompressing gzip; truncated or non-gzip data is an error."""
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(MAX_HEADER_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(f"{path.name}: not a readable gzip file ({type(exc).__name__})") from None
    with path.open("rb") as handle:
        return handle.read(MAX_HEADER_BYTES)


def _open_text_bytes(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")  # type: ignore[return-value]


# Excel writes "sep=," (or "sep=;") as a first line when asked to; the header follows it.
EXCEL_SEPARATOR_HINT = re.compile(r'"?sep=.?"?,*', re.IGNORECASE)

_ENDINGS = {b"\n": "LF", b"\r\n": "CR LF", b"\r": "CR"}
# A line break that is not the file's own: the file's style (its first line's) -> pattern.
_FOREIGN_BREAK = {
    "LF": re.compile(rb"\r\n?"),
    "CR LF": re.compile(rb"\r(?!\n)|(?<!\r)\n"),
    "CR": re.compile(rb"\r?\n"),
}


def line_ending_problem(path: Path, chunk: int = 1 << 20) -> str | None:
    """Where a CSV file first breaks the line-ending style of its first line (`line N: ...`), or None.

    DuckDB's strict reader fails a whole file on mixed line endings or a stray carriage return
    with "the CSV Parser state machine reached an invalid state" and no line number; this finds
    the line for the rejection message. Only called after such a failure; it scans the bytes in
    chunks with one regex. (A CR inside a quoted field is legal CSV but is reported if it comes first.)
    """
    style: str | None = None
    line, carry = 1, b""
    with _open_text_bytes(path) as handle:
        while True:
            try:
                block = handle.read(chunk)
            except (OSError, EOFError, zlib.error):  # a gzip stream cut short: no line to name
                return None
            data, at_end = carry + block, not block
            # Hold back a trailing CR: the next block may complete it to a CR LF.
            cut = len(data) - 1 if not at_end and data.endswith(b"\r") else len(data)
            scan, carry = data[:cut], data[cut:]
            if style is None:
                first = re.search(rb"\r\n|\r|\n", scan)
                if first is None:
                    if at_end:
                        return None
                    carry = data
                    continue
                style = _ENDINGS[first.group()]
            newline = b"\r" if style == "CR" else b"\n"
            found = _FOREIGN_BREAK[style].search(scan)
            if found is None:
                line += scan.count(newline)
                if at_end:
                    return None
                continue
            line += scan.count(newline, 0, found.start())
            ending = _ENDINGS[found.group()]
            if ending == "CR":  # a line's end (old Mac) or a stray CR inside it: either way, not this file's
                return (f"line {line}: carriage return (CR) without a line feed, while line 1 ends with "
                        f"{style} (mixed line endings)")
            return f"line {line}: ends with {ending} while line 1 ends with {style} (mixed line endings)"


def _top_level(schema: list[tuple[str, int | None]]) -> list[str]:
    """The top-level column names of a Parquet schema (depth-first rows, the root first), exactly as
    written: DuckDB's own DESCRIBE renames a second `SESSION_ID` beside `session_id` to SESSION_ID_1."""
    names, at = [], 1
    for _ in range(schema[0][1] or 0 if schema else 0):
        names.append(schema[at][0])
        pending = schema[at][1] or 0
        at += 1
        while pending:  # skip a nested column's descendants
            pending += (schema[at][1] or 0) - 1
            at += 1
    return names


def read_header(con: duckdb.DuckDBPyConnection, file: LandingFile) -> list[str]:
    """Column names of the file, in file order. Raises FileRejected with a clear reason."""
    name = file.path.name
    if file.path.stat().st_size == 0:
        raise FileRejected(f"{name}: empty file (0 bytes), expected a header row")
    if file.is_parquet:
        try:
            schema = "SELECT name, num_children FROM parquet_schema(?)"
            rows = con.execute(schema, [str(file.path)]).fetchall()
        except duckdb.Error:
            raise FileRejected(f"{name}: not a readable Parquet file") from None
        return _top_level(rows)
    head = _read_head(file.path)
    if not head.strip():
        raise FileRejected(f"{name}: empty file, expected a header row")
    if CONTROL_BYTES.search(head):
        raise FileRejected(f"{name}: binary data, not CSV text")
    line = _first_line(head)
    if len(line) >= MAX_HEADER_BYTES:
        raise FileRejected(f"{name}: line 1 is not a CSV header row (no line break in the first 64 KiB)")
    if line.startswith(codecs.BOM_UTF8):
        line = line[len(codecs.BOM_UTF8):]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"{name}: line 1, column {exc.start + 1}: header is not UTF-8 text") from None
    if not text:
        raise FileRejected(f"{name}: line 1 is empty; expected the header row there")
    if EXCEL_SEPARATOR_HINT.fullmatch(text.strip()):
        raise FileRejected(f"{name}: line 1 is Excel's {text.strip()!r} separator hint, not the header row; "
                           "expected the header on line 1 (delete that line, or save as 'CSV UTF-8')")
    columns = [c.strip() for c in next(csv.reader(io.StringIO(text)))]
    if len(columns) < 2:
        raise FileRejected(f"{name}: line 1 has {len(columns)} column(s); expected a comma-separated header")
    seen: set[str] = set()
    for position, column in enumerate(columns, start=1):
        if not column:
            raise FileRejected(f"{name}: line 1, column {position}: empty column name")
        if column in seen:
            shown = shown_column(column, position)  # a header-less file's "names" are row values
            raise FileRejected(f"{name}: line 1, column {position}: duplicated column name {shown!r}")
        seen.add(column)
    return columns
