"""Which SQL is DuckDB's own: the checks of tests/test_portable_dbt.py, kept apart so that they can be
tried on hand-made text (a check that cannot fail proves nothing).

The dbt project runs on DuckDB today and on Apache Spark through dbt's Spark adapter next. Engine-
specific SQL belongs in the adapter-dispatched macros of dbt/macros/portable/, whose `duckdb__`
implementations mark what they emit (`/* duckdb: */ ... /* :duckdb */`, macros/portable/_duckdb_only.sql).
Everything else in dbt's compiled SQL must be SQL both engines read alike.
"""

from __future__ import annotations

import re

DUCKDB_REGION = re.compile(r"/\* duckdb: \*/((?:(?!/\* duckdb: \*/).)*?)/\* :duckdb \*/", re.S)
COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
STRING = re.compile(r"'(?:[^']|'')*'")
# Relations as dbt-duckdb renders them ("database"."schema"."table"): the Spark adapter renders its
# own, so their quotes are not the models' doing.
RELATION = re.compile(r'"[^"]+"(?:\s*\.\s*"[^"]+")+')

# (name, pattern) of the constructs DuckDB reads and Spark SQL does not, or reads otherwise.
_CONSTRUCTS = (
    ("QUALIFY", r"\bqualify\b"),
    ("SELECT * REPLACE/EXCLUDE", r"\*\s*(?:replace|exclude)\s*\("),
    ("date_diff / datediff", r"\bdate_?diff\s*\("),
    ("to_seconds / to_minutes / ... intervals",
     r"\bto_(?:seconds|minutes|hours|days|weeks|months|years)\s*\("),
    ("strftime / strptime", r"\bstr[fp]time\s*\("),
    ("arg_min / arg_max", r"\barg_(?:min|max)\s*\("),
    ("string_agg", r"\bstring_agg\s*\("),
    ("string_split", r"\bstring_split\w*\s*\("),
    ("unnest", r"\bunnest\s*\("),
    ("generate_series / range as a table", r"\b(?:generate_series|range)\s*\("),
    ("list_* functions", r"\blist_\w+\s*\("),
    ("lambda", r"\blambda\b"),
    ("list literal or index [ ]", r"\["),
    ("varchar", r"\bvarchar\b"),
    (":: cast", r"::"),
    ("GROUP BY ALL / ORDER BY ALL", r"\b(?:group|order)\s+by\s+all\b"),
    ("a double-quoted identifier (a string in Spark SQL)", r'"[^"\s]+"'),
)
BACKSLASH = "a backslash in a string literal (an escape in Spark SQL, a plain character in DuckDB)"
FORBIDDEN: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.I)) for name, pattern in _CONSTRUCTS)

# Types a contract, a seed's column_types or a cast may name: both engines know them the same way.
PORTABLE_TYPES = re.compile(r"^(?:string|boolean|integer|int|bigint|smallint|double|float|date|timestamp|"
                            r"decimal\(\d+,\s*\d+\))$", re.I)


def outside_duckdb_regions(sql: str) -> str:
    """The SQL without what the duckdb__ implementations emitted (innermost regions first)."""
    while True:
        stripped = DUCKDB_REGION.sub(" ", sql)
        if stripped == sql:
            return sql
        sql = stripped


def violations(sql: str) -> list[str]:
    """The DuckDB-only constructs of compiled SQL outside the marked regions, one line each."""
    text = outside_duckdb_regions(sql)
    text = COMMENT.sub(" ", text)
    found = [f"{BACKSLASH}: {m.group()}" for m in STRING.finditer(text) if "\\" in m.group()]
    text = STRING.sub("''", text)
    text = RELATION.sub("relation", text)
    for name, pattern in FORBIDDEN:
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{name} (line {line}: {text.splitlines()[line - 1].strip()[:100]})")
    return found


def type_violation(data_type: str) -> str | None:
    """Why a declared type is not portable, or None."""
    return None if PORTABLE_TYPES.match(data_type.strip()) else f"type {data_type!r} (use one of string, " \
        "integer, bigint, double, boolean, date, timestamp, decimal(p, s))"
