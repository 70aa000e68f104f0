"""The dbt project is portable: DuckDB-only SQL only inside adapter-dispatched macros (issue #21).

A copy of the project, with one probe model that uses DuckDB-only constructs, is compiled once by
dbt; every compiled model and test (singular and generic, whatever macros they call) is then read
for the constructs of tests/portable_sql.py outside the regions the `duckdb__` macros mark. The
probe must be caught, everything else must pass. Contract types, seed types and the incremental
strategy are read from the manifest of the same compile. dbt unit tests are not checked: their
fixtures are DuckDB SQL written for the DuckDB build and do not run on Spark.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipelines.transform.project import DBT_DIR, dbt_executable
from tests.portable_sql import FORBIDDEN, type_violation, violations

PROBE = "zz_portability_probe"
PROBE_SQL = """-- not portable on purpose: tests/test_portable_dbt.py
select s.session_id, strftime(s.session_start, '%Y') as year, [1, 2] as pair
from {{ ref('stg_sessions') }} as s
qualify row_number() over (partition by s.site_id order by s.session_start) = 1
"""
SAMPLES = {  # one snippet per construct, as a model might write it
    "QUALIFY": "select * from t qualify row_number() over (order by a) = 1",
    "SELECT * REPLACE/EXCLUDE": "select * replace ('ALL' as site_id) from t",
    "date_diff / datediff": "select date_diff('day', a, b) from t",
    "to_seconds / to_minutes / ... intervals": "select a + to_minutes(5) from t",
    "strftime / strptime": "select strftime(a, '%Y-%m') from t",
    "arg_min / arg_max": "select arg_max(a, b) from t",
    "string_agg": "select string_agg(a, ', ' order by a) from t",
    "string_split": "select string_split(a, ';') from t",
    "unnest": "select unnest(a) from t",
    "generate_series / range as a table": "select * from generate_series(1, 6) as g (n)",
    "list_* functions": "select list_contains(a, 'x') from t",
    "lambda": "select f(a, lambda x: x > 1) from t",
    "list literal or index [ ]": "select ['a', 'b'] from t",
    "varchar": "select cast(a as varchar) from t",
    ":: cast": "select a::integer from t",
    "GROUP BY ALL / ORDER BY ALL": "select a, count(*) from t group by all",
    "a double-quoted identifier (a string in Spark SQL)": 'select counts."any" from counts',
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the dbt project plus the probe, compiled by dbt; returns its target folder."""
    root = tmp_path_factory.mktemp("portable")
    project = root / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models" / "marts" / f"{PROBE}.sql").write_text(PROBE_SQL, encoding="utf-8")
    env = {**os.environ, "OUTCOMES_WAREHOUSE": str(root), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("OUTCOMES_REFRESH_MONTHS", None)
    command = [dbt_executable(), "compile", "--project-dir", str(project), "--profiles-dir", str(project),
               "--target-path", str(root / "target"), "--log-path", str(root / "logs")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:]
    return root / "target"


def manifest(compiled: Path) -> dict[str, Any]:
    return json.loads((compiled / "manifest.json").read_text(encoding="utf-8"))


def test_compiled_models_and_tests_hold_no_duckdb_only_sql(compiled: Path) -> None:
    files = sorted((compiled / "compiled" / "outcomes").rglob("*.sql"))
    assert len(files) > 200  # every model and data test (39 models, 221 tests)
    found = {str(f.relative_to(compiled)): violations(f.read_text(encoding="utf-8")) for f in files}
    probe = next(name for name in found if name.endswith(f"{PROBE}.sql"))
    assert {v.split(" (line")[0] for v in found.pop(probe)} == {
        "QUALIFY", "strftime / strptime", "list literal or index [ ]"}
    assert {name: v for name, v in found.items() if v} == {}


@pytest.mark.parametrize("construct", [name for name, _ in FORBIDDEN])
def test_each_construct_is_found_outside_a_duckdb_macro_and_allowed_inside(construct: str) -> None:
    sql = SAMPLES[construct]
    assert [v.split(" (line")[0] for v in violations(sql)] == [construct]
    assert violations(f"/* duckdb: */ {sql} /* :duckdb */") == []  # what a duckdb__ macro emitted
    assert violations(f"select 1 -- {sql}\n") == []  # a comment is no SQL
    assert violations(f"select '{sql.replace(chr(39), chr(39) * 2)}' as text") == []  # nor is a string


def test_contract_and_seed_types_are_portable(compiled: Path) -> None:
    nodes = manifest(compiled)["nodes"].values()
    declared = [(node["name"], column["name"], column["data_type"]) for node in nodes
                if node["resource_type"] == "model" and node["config"].get("contract", {}).get("enforced")
                for column in node["columns"].values()]
    declared += [(node["name"], column, kind) for node in nodes if node["resource_type"] == "seed"
                 for column, kind in (node["config"].get("column_types") or {}).items()]
    assert len(declared) > 100
    assert [(model, column, why) for model, column, kind in declared
            if (why := type_violation(str(kind)))] == []
    assert type_violation("varchar") and type_violation("hugeint") and not type_violation("decimal(18, 6)")


def test_incremental_models_use_the_dispatched_strategy(compiled: Path) -> None:
    nodes = manifest(compiled)["nodes"].values()
    incremental = {node["name"]: node["config"].get("incremental_strategy") for node in nodes
                   if node["config"].get("materialized") == "incremental"}
    assert len(incremental) == 6
    assert set(incremental.values()) == {"replace_months"}


def test_every_dispatched_macro_has_a_duckdb_and_a_spark_implementation(compiled: Path) -> None:
    macros = {macro["name"]: macro for macro in manifest(compiled)["macros"].values()
              if macro["package_name"] == "outcomes"}
    dispatched = {found for macro in macros.values()
                  for found in re.findall(r"adapter\.dispatch\('(\w+)', 'outcomes'\)", macro["macro_sql"])}
    assert len(dispatched) >= 10
    missing = [name for name in sorted(dispatched) if f"spark__{name}" not in macros
               or not {f"duckdb__{name}", f"default__{name}"} & macros.keys()]
    assert missing == []
    # and each duckdb__ implementation marks what it emits, so the scan above can tell it apart
    unmarked = [name for name in macros if name.startswith("duckdb__") and "duckdb_only(" not in
                macros[name]["macro_sql"]]
    assert unmarked == []
