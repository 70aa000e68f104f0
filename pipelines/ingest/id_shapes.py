"""Id columns must hold ids of the network's shape, or the file is rejected whole (issue #12).

A pseudonymous id has a shape the network chose (the demo's: `P-3f09a1c2d4`). An SSN, a
medical record number or a phone number exported into patient_id does not have it, and
neither does a value a spreadsheet would run as a formula (`=HYPERLINK(...)`, a leading
`+`, `-` or `@`) or one with invisible characters (a zero-width space): such a file is
refused before anything is written, like a file with PHI. The message names the file, the
column, how many values and the first line, never a value. One set-based query per file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb

from pipelines.contract import SAFE_ID
from pipelines.ingest.discover import row_place
from pipelines.ingest.header import FileRejected
from pipelines.sql import lit, q


def check_id_shapes(con: duckdb.DuckDBPyConnection, file_name: str, table: str, header: Sequence[str],
                    patterns: Mapping[str, str]) -> None:
    """Raise FileRejected when an id column of `table` (with line_number) holds a value off its shape.

    Empty values are left to validation (a missing required id quarantines its row).
    """
    columns = [c for c in header if c in patterns]
    if not columns:
        return
    parts = []
    for column in columns:
        value = f"nullif(trim({q(column)}), '')"
        off = (f"{value} IS NOT NULL AND NOT (regexp_full_match({value}, {lit(SAFE_ID)}) "
               f"AND regexp_full_match({value}, {lit(patterns[column])}))")
        parts += [f"count(*) FILTER (WHERE {off})", f"min(line_number) FILTER (WHERE {off})"]
    found = con.execute(f"SELECT {', '.join(parts)} FROM {table}").fetchone() or ()
    problems = []
    for i, column in enumerate(columns):
        count, first_line = found[2 * i], found[2 * i + 1]
        if count:
            values = f"{count} value{'s are' if count != 1 else ' is'}"
            problems.append(f"{file_name}: column {column!r}: {values} not an id of this network's "
                            f"shape ({patterns[column]}), first at {row_place(file_name, first_line)}; file "
                            "rejected, values not shown")
    if problems:
        raise FileRejected("\n".join(problems))
