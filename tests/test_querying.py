"""docs/querying.md against a real published warehouse: every SQL example runs, and the mart
column tables match the published marts in both directions (names and types)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.tools.synth import SynthConfig
from tests.conftest import TinyBuild

DOC = Path(__file__).resolve().parents[1] / "docs" / "querying.md"
TINY = SynthConfig(sites=2, patients=30, months=3, start_month="2025-01", seed=7)

SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.MULTILINE | re.DOTALL)
MART_HEADING = re.compile(r"^#{2,4} `marts\.(\w+)`\s*$")
COLUMN_ROW = re.compile(r"^\| `(\w+)` \| (\w+) \|")
RETURNS = re.compile(r"^--\s*returns:\s*(.+)$", re.MULTILINE)


def sql_blocks() -> list[str]:
    return SQL_BLOCK.findall(DOC.read_text(encoding="utf-8"))


def documented_marts() -> dict[str, dict[str, str]]:
    """{mart: {column: type}} from the column tables under each `marts.<name>` heading."""
    marts: dict[str, dict[str, str]] = {}
    current: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = MART_HEADING.match(line)
            current = heading.group(1) if heading else None
            if current:
                marts.setdefault(current, {})
        elif current and (row := COLUMN_ROW.match(line)):
            marts[current][row.group(1)] = row.group(2).upper()
    return marts


@pytest.fixture(scope="module")
def published(tiny_build: TinyBuild) -> Path:
    """The shared real run on the tiny synthetic network: its published outcomes.duckdb (read only)."""
    path = tiny_build.warehouse / PUBLISHED_NAME
    assert path.exists()
    return path


@pytest.fixture(scope="module")
def con(published: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(published), read_only=True)
    yield connection
    connection.close()


def test_the_doc_has_ten_sql_examples_each_naming_its_columns() -> None:
    blocks = sql_blocks()
    assert len(blocks) >= 10
    for sql in blocks:
        assert RETURNS.search(sql), f"no '-- returns:' line in:\n{sql}"


@pytest.mark.parametrize("sql", sql_blocks(), ids=lambda s: RETURNS.search(s).group(1)[:40]
                         if RETURNS.search(s) else s[:40])
def test_every_sql_example_runs_on_the_published_warehouse(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    relation = con.sql(sql)
    returned = [c.lower() for c in relation.columns]
    relation.fetchall()
    named = [c.strip().lower() for c in RETURNS.search(sql).group(1).split(",")]
    missing = [c for c in named if c not in returned]
    assert not missing, f"query does not return {missing}; it returns {returned}"


def test_mart_columns_in_the_doc_match_the_published_marts(con: duckdb.DuckDBPyConnection) -> None:
    documented = documented_marts()
    published = {}
    for table, column, data_type in con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = 'marts' ORDER BY table_name, column_index").fetchall():
        published.setdefault(table, {})[column] = data_type
    assert set(documented) == set(published), "marts documented vs published differ"
    for mart, columns in published.items():
        assert list(documented[mart]) == list(columns), f"{mart}: column names or order differ"
        assert documented[mart] == columns, f"{mart}: column types differ"


def test_the_doc_warns_that_marts_are_unsuppressed() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "unsuppressed" in text and "issue #5" in text and "reporting" in text


OVERVIEW_ROW = re.compile(r"^\| `(\w+)` \| ([\w ,;]+) \|", re.MULTILINE)


def test_the_overview_lists_every_schema_and_table(con: duckdb.DuckDBPyConnection) -> None:
    """The table of schemas at the top of the doc names every table of the published file."""
    text = DOC.read_text(encoding="utf-8")
    overview = text[:text.index("### Opening it read-only")]
    documented = {(schema, table.strip()) for schema, tables in OVERVIEW_ROW.findall(overview)
                  for table in re.split(r"[,;]", tables)}
    published = set(con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                "WHERE database_name = current_database()").fetchall())
    assert published - documented == set(), "published but not in the overview"
    assert documented - published == set(), "in the overview but not published"


def test_every_reporting_table_is_documented(con: duckdb.DuckDBPyConnection) -> None:
    documented = set(re.findall(r"^\| `reporting\.(\w+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    published = {t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'reporting'").fetchall()}
    assert documented == published


PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_python_example_runs_in_the_projects_environment(published: Path, tmp_path: Path) -> None:
    """The ```python block, as a quality analyst would paste it, run from a folder whose
    `warehouse` is the shared build's (its published file and extracts)."""
    (block,) = PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    (tmp_path / "warehouse").symlink_to(published.parent, target_is_directory=True)
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ALL" in done.stdout and "PCL5" in done.stdout
