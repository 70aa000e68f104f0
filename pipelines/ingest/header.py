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

import duckdb

from pipelines.ingest.discover import LandingFile
from pipelines.ingest.phi import shown_column

MAX_HEADER_BYTES = 64 * 1024
# Bytes that never occur in CSV text (NUL and C0 controls other than tab, LF, CR): a binary file.
CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")


class FileRejected(ValueError):
    """A whole file refused before loading; the message names the file and never quotes a value."""


def _first_line(raw: bytes) -> bytes:
    end = raw.find(b"\n")
    return raw if end < 0 else raw[:end]


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


def read_header(con: duckdb.DuckDBPyConnection, file: LandingFile) -> list[str]:
    """Column names of the file, in file order. Raises FileRejected with a clear reason."""
    name = file.path.name
    if file.path.stat().st_size == 0:
        raise FileRejected(f"{name}: empty file (0 bytes), expected a header row")
    if file.is_parquet:
        try:
            rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(file.path)]).fetchall()
        except duckdb.Error:
            raise FileRejected(f"{name}: not a readable Parquet file") from None
        return [row[0] for row in rows]
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
        text = line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"{name}: line 1, column {exc.start + 1}: header is not UTF-8 text") from None
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
