"""The warehouse layout (issue #11, docs/architecture.md): one writer per schema, dbt after validate.

The SQL of every module under pipelines/ is parsed (tests/sql_layout.py); hand-made modules
show that the check fails on each kind of breach, so a green run means something.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.ingest.tables import ensure_ingest_tables
from pipelines.migrations import adopt_older_layout
from pipelines.publish.warehouse import COPIED_SCHEMAS
from pipelines.settings import PROJECT_ROOT
from pipelines.validate.quarantine import ensure_validate_tables
from tests.sql_layout import PYTHON_WRITERS, RAW_SCHEMAS, Use, scan, uses, violations

ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"


def dbt_schemas() -> set[str]:
    """The schemas dbt writes: every +schema of dbt_project.yml (models and seeds)."""
    project = yaml.safe_load((PROJECT_ROOT / "dbt" / "dbt_project.yml").read_text())
    found: set[str] = set()

    def walk(config: object) -> None:
        if isinstance(config, dict):
            for key, value in config.items():
                if key == "+schema":
                    found.add(value)
                walk(value)

    walk(project["models"])
    walk(project["seeds"])
    return found


def test_python_outside_dbt_keeps_to_the_layout() -> None:
    found, _ = scan(PROJECT_ROOT)
    assert violations(found) == []
    # the scan sees what is there: the stages' own tables and the report's reads of reporting
    seen = {(u.path, u.schema, u.writes) for u in found}
    assert ("pipelines/ingest/load.py", "raw", True) in seen
    assert ("pipelines/validate/quarantine.py", "quarantine", True) in seen
    assert ("pipelines/validate/quarantine.py", "raw", False) in seen
    assert ("pipelines/publish/report/data.py", "reporting", False) in seen
    # and nothing after validate names raw or quarantine at all
    assert not [u for u in found if u.schema in RAW_SCHEMAS
                and u.path.startswith(("pipelines/publish/", "pipelines/transform/", "pipelines/run.py",
                                       "pipelines/cli.py", "pipelines/progress.py"))]


BREACHES = [
    ("pipelines/publish/extra.py",
     'con.execute(f"INSERT INTO reporting.{table} SELECT * FROM marts.{table}")',
     "writes reporting.__v0, a schema only dbt writes"),
    ("pipelines/run.py", 'con.execute("SELECT count(*) FROM quarantine.vitals WHERE held")',
     "reads quarantine.vitals after validate"),
    ("pipelines/publish/report/data.py",
     'rows(con, f"SELECT count(*) FROM raw.{export} WHERE export_month = ?", [month])',
     "reads raw.__v0 after validate"),
    ("pipelines/run.py", 'query = "SELECT reason FROM " + "raw.file_versions"', "reads raw.file_versions"),
    ("pipelines/cli.py", 'con.execute(f"CREATE TABLE {schema}.summary AS SELECT 1 AS x")',
     "a schema chosen at run time"),
    ("pipelines/run.py", 'con.execute(f"SELECT * FROM {relation}")', "a schema chosen at run time"),
    ("pipelines/validate/extra.py", 'con.execute("DELETE FROM raw.vitals WHERE export_month = ?", [m])',
     "writes raw.vitals, a schema only pipelines/ingest/, pipelines/history/ writes"),
    ("pipelines/publish/extra.py", 'con.execute("UPDATE marts.response_rates SET n_met = 0")',
     "writes marts.response_rates, a schema only dbt writes"),
    # sqlglot cannot parse it: the fallback still finds the table it names
    ("pipelines/run.py", 'con.execute("SELECT FROM WHERE (( quarantine.sessions")',
     "reads quarantine.sessions after validate"),
]


@pytest.mark.parametrize(("path", "code", "expected"), BREACHES, ids=[b[2][:40] for b in BREACHES])
def test_the_check_catches_a_breach(path: str, code: str, expected: str) -> None:
    found, _ = uses(path, f"def step(con, rows, table, export, month, schema, relation, m):\n    {code}\n")
    assert found, "the SQL was not seen"
    assert any(expected in v for v in violations(found)), violations(found)


@pytest.mark.parametrize("code", [
    'con.execute(f"INSERT INTO raw.{export} SELECT * FROM _incoming")',
    'con.execute("SELECT source_file FROM raw.file_versions WHERE is_current")',
    'con.execute("INSERT INTO quarantine.file_accounting VALUES (?, ?)", [a, b])',
    'con.execute("CREATE TEMP TABLE _flags AS SELECT 1 AS line_number")',
])
def test_the_stages_before_dbt_may_use_their_own_schemas(code: str) -> None:
    path = "pipelines/validate/quarantine.py" if "quarantine" in code or "_flags" in code \
        else "pipelines/ingest/load.py"
    found, _ = uses(path, f"def step(con, export, a, b):\n    {code}\n")
    assert found or "_flags" in code
    assert violations(found) == []


def test_a_docstring_is_not_sql() -> None:
    prose = '"""Select the rows from quarantine.vitals, says the prose."""\n'
    found, unparsed = uses("pipelines/run.py", prose)
    assert found == [] and unparsed == []


def architecture_rows() -> dict[str, tuple[str, str]]:
    """docs/architecture.md's schema table: schema -> (writer, readers)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Schemas", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `(\w+)`[^|]* \| ([^|]+) \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_the_architecture_names_one_writer_for_every_schema() -> None:
    rows = architecture_rows()
    assert set(rows) == set(PYTHON_WRITERS) | dbt_schemas(), "every schema of the build, once"
    for schema, (writer, _) in rows.items():
        if schema in PYTHON_WRITERS:
            assert all(w.rstrip("/") in writer for w in PYTHON_WRITERS[schema]), (schema, writer)
        else:
            assert writer.startswith("dbt"), (schema, writer)
    assert set(COPIED_SCHEMAS) <= dbt_schemas(), "publish copies only dbt's schemas"
    assert not set(COPIED_SCHEMAS) & {"raw", "staging", "quarantine", "stg", "intermediate"}


def test_the_route_of_a_vitals_row_names_files_that_exist() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    route = text.split("## The route of a vitals row", 1)[1].split("\n## ", 1)[0]
    files = set(re.findall(r"`((?:pipelines|dbt)/[\w/.]+\.(?:py|sql|j2))`", route))
    assert len(files) >= 10
    missing = [f for f in files if not (PROJECT_ROOT / f).exists()]
    assert missing == []


def test_use_is_what_a_statement_names() -> None:
    code = 'con.execute("CREATE TABLE meta.build_tables AS SELECT * FROM build.marts.response_rates")\n'
    found, _ = uses("pipelines/publish/warehouse.py", code)
    assert set(found) == {
        Use("pipelines/publish/warehouse.py", 1, "meta", "build_tables", writes=True),
        Use("pipelines/publish/warehouse.py", 1, "marts", "response_rates", writes=False),
    }


def test_a_warehouse_of_the_older_layout_keeps_its_rows(tmp_path: Path) -> None:
    """Malformed lines and file accounting written before the layout change move to their new homes."""
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("CREATE SCHEMA quarantine")
        con.execute("CREATE SCHEMA data_quality")
        con.execute("CREATE TABLE quarantine.malformed_lines (export VARCHAR, export_month VARCHAR, "
                    "source_file VARCHAR, file_sha256 VARCHAR, line_number BIGINT, error_type VARCHAR, "
                    "column_name VARCHAR, error_message VARCHAR, csv_line VARCHAR, quarantined_at TIMESTAMP)")
        con.execute("INSERT INTO quarantine.malformed_lines VALUES ('vitals', '2025-01', "
                    "'vitals_2025-01.csv', 'x', 7, 'MISSING COLUMNS', NULL, NULL, 'SE-1,2025', now())")
        con.execute("CREATE TABLE data_quality.file_accounting (export VARCHAR, export_month VARCHAR, "
                    "source_file VARCHAR, file_sha256 VARCHAR, rows_read BIGINT, rows_loaded BIGINT, "
                    "rows_quarantined BIGINT, rows_held BIGINT, rows_malformed BIGINT, "
                    "duplicates_collapsed BIGINT, balanced BOOLEAN, checked_at TIMESTAMP)")
        con.execute("INSERT INTO data_quality.file_accounting VALUES ('vitals', '2025-01', "
                    "'vitals_2025-01.csv', 'x', 10, 9, 1, 0, 1, 0, true, now())")
        ensure_ingest_tables(con)
        ensure_validate_tables(con)
        assert con.execute("SELECT line_number FROM raw.malformed_lines").fetchall() == [(7,)]
        assert con.execute("SELECT rows_read, rows_malformed FROM quarantine.file_accounting").fetchall() \
            == [(10, 1)]
        left = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                           "WHERE schema_name IN ('quarantine', 'data_quality') ORDER BY 1").fetchall()
        assert ("quarantine.malformed_lines",) not in left and ("data_quality.file_accounting",) not in left
        assert adopt_older_layout(con) == []  # once only


def test_the_stages_do_not_import_the_tools() -> None:
    """The generator and the benchmark (pipelines/tools/) are tools beside the pipeline: a stage
    importing them would ship them on the data path (issue #17, item 5). The CLI may (`outcomes
    synth`, `run --demo`)."""
    import ast

    tools = "pipelines.tools"
    offenders = []
    for path in sorted((PROJECT_ROOT / "pipelines").rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative.startswith("pipelines/tools/") or relative in {"pipelines/cli.py",
                                                                   "pipelines/benchmark.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{relative}: {name}" for name in names if name.startswith(tools)]
    assert offenders == []
