"""Id columns must hold ids of the network's shape, or the file is rejected whole (issue #12).

A pseudonymous id has a shape the network chose (the demo's: `P-3f09a1c2d4`). An SSN, a
medical record number or a phone number exported into patient_id does not have it, and
neither does a value a spreadsheet would run as a formula (`=HYPERLINK(...)`, a leading
`+`, `-` or `@`) or one with invisible characters (a zero-width space): such a file is
refused before anything is written, like a file with PHI. The message names the file, the
column, how many values and the first line, never a value. The load folds `off_shape` into its
one scan of the delivered values (pipelines/ingest/load.py).
"""

from __future__ import annotations

from pipelines.contract import SAFE_ID
from pipelines.ingest.discover import row_place
from pipelines.sql import lit


def off_shape(ref: str, pattern: str) -> str:
    """SQL: the id value `ref` is present and not of the network's shape (or not a safe id at all).

    Empty values are left to validation (a missing required id quarantines its row)."""
    value = f"nullif(trim({ref}), '')"
    return (f"{value} IS NOT NULL AND NOT (regexp_full_match({value}, {lit(SAFE_ID)}) "
            f"AND regexp_full_match({value}, {lit(pattern)}))")


def shape_problem(file_name: str, column: str, pattern: str, count: int, first_line: int) -> str:
    """The rejection line for `count` values of `column` off their shape; never quotes a value."""
    values = f"{count} value{'s are' if count != 1 else ' is'}"
    return (f"{file_name}: column {column!r}: {values} not an id of this network's shape ({pattern}), "
            f"first at {row_place(file_name, first_line)}; file rejected, values not shown")
