"""The published outcomes.duckdb opens in the DuckDB release quality teams' tools have (issue #25).

DuckDB 2.0 writes a storage format DuckDB 1.x refuses ("Trying to read a database file with version
number 69, but we can only read versions between 64 and 68"); publish writes the file in the
format of OUTCOMES_PUBLISH_STORAGE_VERSION (v1.0.0 by default). Here DuckDB 1.1.3, the oldest
release docs/querying.md promises, is installed beside the project (not into it) and runs every
SQL example of docs/querying.md on the shared build's published file, in a process of its own;
its answers must equal DuckDB 2.0's, cell by cell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.settings import PROJECT_ROOT
from tests.conftest import TinyBuild
from tests.test_querying import sql_blocks

OLD_DUCKDB = "1.1.3"
OLD_DUCKDB_DIR = PROJECT_ROOT / ".venv" / "compat" / f"duckdb-{OLD_DUCKDB}"  # git-ignored with .venv

RUN_EXAMPLES = """
import json, sys
import duckdb
path, blocks = sys.argv[1], json.loads(sys.stdin.read())
con = duckdb.connect(path, read_only=True)
answers = [[list(map(repr, row)) for row in con.execute(sql).fetchall()] for sql in blocks]
print(json.dumps({"version": duckdb.__version__, "answers": answers}))
"""


@pytest.fixture(scope="session")
def old_duckdb() -> Path:
    """DuckDB 1.1.3's wheel unpacked into a folder of its own (pip --target), installed once."""
    if not (OLD_DUCKDB_DIR / "duckdb" / "__init__.py").exists():
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--target", str(OLD_DUCKDB_DIR), f"duckdb=={OLD_DUCKDB}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        assert done.returncode == 0, f"could not install duckdb {OLD_DUCKDB}: {done.stderr[-2000:]}"
    return OLD_DUCKDB_DIR


def run_examples(published: Path, python_path: Path | None, blocks: list[str]) -> dict[str, object]:
    env = {**os.environ}
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    done = subprocess.run([sys.executable, "-c", RUN_EXAMPLES, str(published)], input=json.dumps(blocks),
                          capture_output=True, text=True, env=env, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_duckdb_1_1_runs_every_querying_example_on_the_published_file(
        tiny_build: TinyBuild, old_duckdb: Path) -> None:
    published = tiny_build.warehouse / PUBLISHED_NAME
    blocks = sql_blocks()
    assert len(blocks) >= 10
    old = run_examples(published, old_duckdb, blocks)
    assert old["version"] == OLD_DUCKDB
    new = run_examples(published, None, blocks)
    assert new["version"] == duckdb.__version__ and not new["version"].startswith("1.")
    assert old["answers"] == new["answers"]
    assert any(answer for answer in new["answers"])  # the examples return rows on this build


def test_without_the_setting_duckdb_2_writes_a_file_1_x_cannot_open(tmp_path: Path, old_duckdb: Path) -> None:
    """Why the setting exists: the same table in DuckDB 2.0's own format is refused by 1.1.3."""
    for name, option in (("latest.duckdb", "latest"), ("v1.duckdb", "v1.0.0")):
        with duckdb.connect() as con:
            con.execute(f"ATTACH '{tmp_path / name}' AS f (STORAGE_VERSION '{option}')")
            con.execute("CREATE TABLE f.t AS SELECT 1 AS x")
    env = {**os.environ, "PYTHONPATH": str(old_duckdb)}
    opened = {}
    for name in ("latest.duckdb", "v1.duckdb"):
        done = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1], "
                               "read_only=True).execute('select * from t').fetchall()", str(tmp_path / name)],
                              capture_output=True, text=True, env=env, check=False, timeout=120)
        opened[name] = done.returncode == 0
    assert opened == {"latest.duckdb": False, "v1.duckdb": True}
