"""Error text that may leave the build: database messages with the row values taken out.

A DuckDB error raised by a row names the row's value ("Could not convert string 'Jane Doe' to
INT32", 'Duplicate key "patient_id: 078051120"', "with value 5551234567 can't be cast"). Error
text travels to the terminal, warehouse/logs/last_run.log, the Dagster run database and check
metadata, none of which may hold a row value (issue #12). Every error path that can carry a
database message passes it through `masked` (a readable first line) or `error_class` (the
DuckDB error type alone, when even the rest of the line is not worth the risk).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb
from dagster import Failure, MetadataValue

# DuckDB's exception types (duckdb/common/exception.cpp), as they open a message: "<type> Error: ...".
DUCKDB_ERROR_TYPES = (
    "Binder", "Catalog", "Connection", "Constraint", "Conversion", "Decimal", "Dependency",
    "Divide by Zero", "Executor", "Expression", "FATAL", "HTTP", "INTERNAL", "INTERRUPT", "IO", "Index",
    "Invalid Configuration", "Invalid Input", "Invalid type", "Invalid", "Mismatch Type",
    "Missing Extension", "Not implemented", "Object Size", "Optimizer", "Out of Memory",
    "Out of Range", "Parameter Not Allowed", "Parameter Not Resolved", "Parser", "Permission",
    "Planner", "Scheduler", "Sequence", "Serialization", "Settings", "Syntax", "TransactionContext",
    "Unknown Type",
)
_CLASS = re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(DUCKDB_ERROR_TYPES, key=len, reverse=True))
                    + r") Error:")
# A quoted literal ('...', "...", `...`), a run of 5+ digits not announced as a line or column
# number, and anything after an "Original Line:" / "LINE n:" marker (DuckDB echoes the row or SQL).
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\u2018[^\u2019]*\u2019|\u201c[^\u201d]*\u201d")
_DIGITS = re.compile(r"(?<![Ll]ine )(?<![Ll]ine: )(?<![Cc]olumn )(?<!\w)\d[\d,.\-/ ]{3,}\d(?!\w)")
WITHHELD = "\u2026"

T = TypeVar("T")


def error_class(text: str) -> str:
    """'Conversion Error' for a DuckDB message of that type; 'database error' when none is named.

    Only a name from DUCKDB_ERROR_TYPES comes back, never text of the message itself."""
    found = _CLASS.search(text or "")
    return f"{found.group(1)} Error" if found else "database error"


def masked(text: str, limit: int = 300) -> str:
    """The first line of an error message with quoted literals and long numbers replaced by '…'.

    The first line says what went wrong ("Conversion Error: Could not convert string '…' to
    INT32"); DuckDB's later lines echo the row or the query and are dropped whole.
    """
    lines = (text or "").strip().splitlines()
    first = lines[0] if lines else ""
    first = _QUOTED.sub(f"'{WITHHELD}'", first)
    first = _DIGITS.sub(WITHHELD, first)
    return first[:limit]


def database_failure(step: str, exc: duckdb.Error) -> Failure:
    """The Dagster failure for a database error in `step`: the masked first line, no traceback cause."""
    return Failure(
        description=f"{step}: {masked(str(exc))} (row values withheld from error messages)",
        metadata={"error class": MetadataValue.text(error_class(str(exc)))},
    )


def values_withheld(step: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate an asset or check function: a DuckDB error it raises leaves as `database_failure`.

    Dagster stores a failed step's message, its traceback text and the chained causes in the run
    database; the new failure is raised outside the `except` block so the original (with the
    row's value) is neither its cause nor its context.
    """
    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        if inspect.isgeneratorfunction(fn):
            def generator(*args: Any, **kwargs: Any) -> Any:
                failure = None
                try:
                    yield from fn(*args, **kwargs)
                except duckdb.Error as exc:
                    failure = database_failure(step, exc)
                if failure is not None:
                    raise failure
            return _like(generator, fn)

        def plain(*args: Any, **kwargs: Any) -> T:
            failure = None
            try:
                return fn(*args, **kwargs)
            except duckdb.Error as exc:
                failure = database_failure(step, exc)
            raise failure
        return _like(plain, fn)
    return decorate


def _like(wrapper: Callable[..., Any], fn: Callable[..., T]) -> Callable[..., T]:
    """functools.wraps, with the annotations resolved where `fn` was written (Dagster reads the
    context parameter's type, and a string annotation would be looked up in this module)."""
    functools.update_wrapper(wrapper, fn)
    with contextlib.suppress(NameError):
        wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
