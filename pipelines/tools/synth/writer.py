"""Writing export files with deterministic bytes.

Every column is turned into the exact text the file carries (ISO timestamps without zone,
`true`/`false`, shortest decimal form, empty for missing), so CSV, gzip and parquet hold
the same values and defects can put any text anywhere. Same rows give the same bytes:
gzip without a name or time stamp in its header, parquet from one writer configuration.
Files are written to a temporary name and renamed, so a watcher never sees half a file.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import polars as pl

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
GZIP_LEVEL = 6


def to_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as the text written to the file (null stays null: an empty field)."""
    exprs = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.String:
            exprs.append(column)
        elif isinstance(dtype, pl.Datetime):
            exprs.append(column.dt.strftime(TIMESTAMP_FORMAT))
        else:  # integers, floats (shortest round-trip form, e.g. 35.5), booleans (true/false)
            exprs.append(column.cast(pl.String))
    return frame.select(exprs)


def csv_bytes(frame: pl.DataFrame, line_edits: dict[int, str] | None = None) -> bytes:
    """UTF-8 CSV with a header, `\\n` line ends; `line_edits` replace whole lines (header is line 1)."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=True, separator=",", line_terminator="\n", quote_char='"',
                    null_value="")
    data = buffer.getvalue()
    if not line_edits:
        return data
    lines = data.split(b"\n")
    for line, text in line_edits.items():
        lines[line - 1] = text.encode("utf-8")
    return b"\n".join(lines)


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with mtime 0 and no file name, so equal input gives equal bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=GZIP_LEVEL) as gz:
        gz.write(data)
    return buffer.getvalue()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=3, statistics=True,
                        row_group_size=1_000_000)
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to `<name>.tmp` beside the target, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_export(frame: pl.DataFrame, path: Path, file_format: str,
                 line_edits: dict[int, str] | None = None) -> None:
    """Write one export file (`frame` already text) in the configured format."""
    if file_format == "parquet":
        write_atomic(path, parquet_bytes(frame))
        return
    data = csv_bytes(frame, line_edits)
    write_atomic(path, gzip_bytes(data) if file_format == "csv.gz" else data)
