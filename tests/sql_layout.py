"""Which schemas the Python code reads and writes, from the SQL it sends (issue #11).

Every string expression of a module that reads as SQL - a literal, an f-string, or a `+` of
them - is rebuilt with each `{value}` of an f-string replaced by a placeholder identifier
(`__v0`), parsed with sqlglot (DuckDB dialect), and its tables sorted into the ones a
statement writes (INSERT, CREATE, UPDATE, DELETE, DROP, ALTER targets) and the ones it
reads. A schema that is itself a placeholder (`{schema}.x`) is "dynamic": the layout rules
cannot see it, so only the places listed in DYNAMIC_SCHEMAS may do that, each for a reason.

This is the test's view of docs/architecture.md: one writer per schema, and after validate
nothing but dbt reads `raw` or `quarantine`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

DYNAMIC = "<dynamic>"
SQL_START = re.compile(r"^\s*\(?\s*(select|insert|create|update|delete|with|drop|alter|copy|from)\b", re.I)

# Schema -> the only Python that may write it (a folder or a file under the project root).
# Every other schema of the build (stg, intermediate, marts, reporting, reference,
# data_quality) is dbt's: no Python writes it.
PYTHON_WRITERS = {
    # and the operator's history commands (issue #15), under the writer lock: `outcomes retract`
    # supersedes a month's version; `outcomes reproduce` fills a new build file's raw tables
    "raw": ("pipelines/ingest/", "pipelines/history/"),
    "staging": ("pipelines/validate/",),
    "quarantine": ("pipelines/validate/",),
    # the published file's build id and row counts; the build file's record of every build
    "meta": ("pipelines/publish/warehouse.py", "pipelines/publish/build_record.py"),
    # the dbt step's record of what each build refreshed (incremental models)
    "transform": ("pipelines/transform/refresh.py",),
}
# The only Python that writes a `reporting` table, never the build file's (dbt's), and why.
REPORTING_OUTSIDE_DBT = {
    "pipelines/publish/disclosure/gate.py": "hides, in the new published file before it is swapped in, "
                                            "pooled counts through which the attack solves for a hidden cell",
    "pipelines/publish/report/editions.py": "the internal edition's in-memory views named like the "
                                            "reporting tables, over the published file's marts",
}
# The stages before dbt: the only Python that reads what clinics sent or what was quarantined.
# And the one-off move of an older warehouse's tables into this layout, run by ingest.
MIGRATIONS = "pipelines/migrations.py"
# `outcomes retract` checks that a month has a version to take out; `reproduce` copies versions.
RAW_READERS = ("pipelines/ingest/", "pipelines/validate/", MIGRATIONS, "pipelines/history/")
RAW_SCHEMAS = ("raw", "quarantine")
# Where a schema or table name is a variable (a file or a folder), and why that is safe.
DYNAMIC_SCHEMAS = {
    "pipelines/ingest/": "the stage before dbt: reads landing files through DuckDB's readers "
                         "(`FROM {reader}`) into raw and its own temporary tables",
    "pipelines/validate/": "the stage before dbt: judges raw rows of one export ({source}) into "
                           "staging and quarantine through temporary tables",
    "pipelines/tools/bench/":
        "the benchmark tool: builds and times its own scratch databases, not the warehouse",
    "pipelines/publish/warehouse.py":
        "copies each schema of COPIED_SCHEMAS (dbt's) from the build into the new published file",
    "pipelines/publish/report/editions.py":
        "the internal edition's own in-memory database: views named like the published reporting tables "
        "over the attached published file's marts and data_quality (it writes no file)",
    "pipelines/publish/extracts.py":
        "writes each table of the new published file's reporting and marts schemas to Parquet and CSV",
    "pipelines/transform/assets.py":
        "counts the rows of the tables its dbt step has just built (asset keys are <schema>/<table>)",
    # dbt's tables all the same: the dbt step puts what dbt built on Spark where DuckDB's would be
    "pipelines/transform/spark_tables.py":
        "reads each table a Spark build wrote (the manifest's reference, marts and reporting tables) back "
        "into the build file (docs/scale-out.md)",
}
# Text that is not SQL but stands for a value or a relation in it: parameters (?, $name) and
# GX's {batch}. Replaced before parsing.
PARAMETERS = re.compile(r"\?|\$[a-z_]\w*|\{batch\}", re.I)
# The regex fallback for a string sqlglot cannot parse: every <schema>.<table> it names.
NAMED_TABLE = re.compile(r"(?<![\w.\"])\"?([a-z_]+)\"?\.\"?([a-z_][\w]*)\"?", re.I)
WRITE_VERB = re.compile(r"\b(insert\s+into|create\s+(?:or\s+replace\s+)?(?:temp\w*\s+)?table"
                        r"(?:\s+if\s+not\s+exists)?|update|delete\s+from|drop\s+table(?:\s+if\s+exists)?"
                        r"|alter\s+table)\s+$", re.I)


@dataclass(frozen=True)
class Use:
    """One table named by one SQL statement in the code."""

    path: str
    line: int
    schema: str  # DYNAMIC when the code fills it in
    table: str
    writes: bool


def _text(node: ast.expr) -> str | None:
    """The string an expression builds, `{...}` parts as placeholders; None if it is not a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts, i = [], 0
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                parts.append(f"__v{i}")
                i += 1
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every outermost string expression of the module that starts like SQL."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(source)
    # docstrings and other bare string statements are prose, not SQL
    inner: set[int] = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for node in ast.walk(tree):
        if id(node) in inner or not isinstance(node, ast.expr):
            continue
        text = _text(node)
        if text is None:
            continue
        inner.update(id(child) for child in ast.walk(node))
        if SQL_START.match(text):
            found.append((node.lineno, text))
    return found


def _schema(table: exp.Table) -> str:
    """The table's schema; DYNAMIC when code fills in the schema or the whole name (`FROM {source}`)."""
    schema = table.db or ""
    return DYNAMIC if schema.startswith("__v") or (not schema and table.name.startswith("__v")) else schema


def _is_schema_statement(statement: exp.Expression) -> bool:
    """CREATE SCHEMA / DROP SCHEMA: they name a schema, not a table."""
    kind = str(statement.args.get("kind", "")).upper()
    return isinstance(statement, (exp.Create, exp.Drop)) and kind == "SCHEMA"


def _targets(statement: exp.Expression) -> list[exp.Table]:
    if isinstance(statement, (exp.Insert, exp.Create, exp.Update, exp.Delete, exp.Drop, exp.Alter)):
        target = statement.this
        if isinstance(target, exp.Schema):  # CREATE TABLE t (columns)
            target = target.this
        return [target] if isinstance(target, exp.Table) else []
    return []


def uses(path: str, source: str) -> tuple[list[Use], list[str]]:
    """Tables each SQL string of a module writes and reads, and the strings sqlglot cannot parse."""
    found: list[Use] = []
    unparsed: list[str] = []
    for line, text in sql_strings(source):
        sql = PARAMETERS.sub(lambda m: "batch" if m.group(0) == "{batch}" else "NULL", text)
        if sql.lstrip().upper().startswith("FROM"):  # DuckDB's FROM-first form, or a fragment of one
            sql = "SELECT * " + sql
        try:
            statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
        except sqlglot.errors.SqlglotError:
            statements = []
        if not statements or any(isinstance(s, exp.Command) for s in statements):  # not understood
            unparsed.append(f"{path}:{line}: {text[:80]!r}")
            found += _named_tables(path, line, text)
            continue
        for statement in statements:
            if _is_schema_statement(statement):
                continue
            targets = _targets(statement)
            for table in targets:
                found.append(Use(path, line, _schema(table), table.name, writes=True))
            written = {id(t) for t in targets}
            ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
            for table in statement.find_all(exp.Table):
                if id(table) in written or (not table.db and table.name in ctes):
                    continue
                if table.db or table.catalog or _schema(table) == DYNAMIC:  # else a temporary table or a CTE
                    found.append(Use(path, line, _schema(table), table.name, writes=False))
    return found, unparsed


def _named_tables(path: str, line: int, text: str) -> list[Use]:
    """The fallback for SQL sqlglot cannot parse: every schema.table the text names, a write when
    a write verb comes right before it. Coarser, but nothing in the code goes unchecked."""
    found = []
    for match in NAMED_TABLE.finditer(text):
        schema = DYNAMIC if match.group(1).startswith("__v") else match.group(1).lower()
        writes = bool(WRITE_VERB.search(text[:match.start()]))
        found.append(Use(path, line, schema, match.group(2), writes=writes))
    return found


def violations(all_uses: list[Use]) -> list[str]:
    """Every use that breaks the layout, as 'path:line: what'."""
    bad = []
    for use in all_uses:
        where = f"{use.path}:{use.line}"
        if use.schema == DYNAMIC:
            if not use.path.startswith(tuple(DYNAMIC_SCHEMAS)):
                bad.append(f"{where}: a schema chosen at run time ({'writes' if use.writes else 'reads'} "
                           f"<schema>.{use.table}); name it, or list the file in DYNAMIC_SCHEMAS with why")
        elif use.writes and not use.schema:
            continue  # an unqualified name: a temporary table of the connection
        elif use.path == MIGRATIONS and use.schema in ("raw", "quarantine", "data_quality"):
            continue  # moves the pre-#11 tables of those schemas into their new homes, once
        elif use.path in REPORTING_OUTSIDE_DBT and use.schema == "reporting":
            continue
        elif use.writes and not use.path.startswith(PYTHON_WRITERS.get(use.schema, ("dbt only",))):
            owner = ", ".join(PYTHON_WRITERS[use.schema]) if use.schema in PYTHON_WRITERS else "dbt"
            bad.append(f"{where}: writes {use.schema}.{use.table}, a schema only {owner} writes")
        elif not use.writes and use.schema in RAW_SCHEMAS and not use.path.startswith(RAW_READERS):
            bad.append(f"{where}: reads {use.schema}.{use.table} after validate (only dbt may)")
    return bad


def scan(root: Path, folder: str = "pipelines") -> tuple[list[Use], list[str]]:
    """uses() of every module under root/folder, paths relative to root."""
    all_uses: list[Use] = []
    unparsed: list[str] = []
    for path in sorted((root / folder).rglob("*.py")):
        found, bad = uses(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"))
        all_uses += found
        unparsed += bad
    return all_uses, unparsed
