"""The dbt project as Dagster sees it: paths, and a manifest prepared once rather than on every load."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from dagster_dbt import DbtProject

from pipelines.settings import PROJECT_ROOT

DBT_DIR = PROJECT_ROOT / "dbt"
DBT_SOURCES = ("models", "seeds", "macros", "tests", "dbt_project.yml", "profiles.yml")
DBT_STEP_PREFIX = "dbt_"  # every dbt step's op name starts with it (progress, run summary, faults)


def dbt_var(name: str) -> Any:
    """A var of dbt/dbt_project.yml, the one home of the numbers the models use (small-cell threshold,
    control-chart baseline, ...), for Python that describes them before a build has published them."""
    return _project_vars()[name]


@lru_cache(maxsize=1)  # read once per process: every small-cell test's description asks at load time
def _project_vars() -> dict[str, Any]:
    return yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text())["vars"]


def dbt_executable() -> str:
    """The dbt of this virtualenv: DbtCliResource fails when dbt is not on PATH."""
    return str(Path(sys.executable).with_name("dbt"))


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in DBT_SOURCES:
        path = DBT_DIR / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def _fresh(manifest: Path) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime()


def ensure_manifest(project: DbtProject) -> Path:
    """Parse the project only when target/manifest.json is missing or older than a dbt source file.

    Processes that start together (a run's step processes, parallel test workers, two
    deployments) parse once: the first takes a lock and the others then find the fresh manifest,
    which is put in place whole (dbt writes its files in place; a half-written one would be read).
    """
    manifest = project.manifest_path
    if _fresh(manifest):
        return manifest
    target = Path(project.target_path)
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".parse.lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _fresh(manifest):
            return manifest
        parsed = target / f".parse-{os.getpid()}"
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        try:
            done = subprocess.run(
                [dbt_executable(), "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
                 "--target-path", str(parsed), "--log-path", str(parsed), "--quiet"],
                capture_output=True, text=True, env=env, check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"dbt parse failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
            for name in ("partial_parse.msgpack", manifest.name):  # the manifest last: it says "fresh"
                if (parsed / name).exists():
                    os.replace(parsed / name, target / name)
        finally:
            shutil.rmtree(parsed, ignore_errors=True)
    return manifest


outcomes_dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target_path=DBT_DIR / "target")
