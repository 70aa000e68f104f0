"""Settings travel one way (issue #17, item 3): a Settings object, the environment at a process
boundary, one resource inside Dagster; and one scan of the landing folder per run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.definitions import build_definitions
from pipelines.resources import Folders
from pipelines.settings import (
    DEFAULT_MEMORY_LIMIT,
    ENV_MEMORY_LIMIT,
    ENV_WAREHOUSE,
    PROJECT_ROOT,
    Settings,
    load_settings,
)
from pipelines.sql import SPILL_FOLDER, connect, connection_config


def test_the_definitions_and_dbt_read_the_same_folders(settings: Settings) -> None:
    resources = build_definitions().resources
    assert resources["duckdb"].connection_config == connection_config(settings.build_db)
    folders = resources["folders"]
    assert isinstance(folders, Folders)
    assert Folders.from_settings(load_settings()) == folders
    assert (folders.landing_path, folders.warehouse_path, folders.reports_path) == \
        (settings.landing, settings.warehouse, settings.reports)
    # dbt's profile takes the build file from the same variable the definitions were read from
    profile = (PROJECT_ROOT / "dbt" / "profiles.yml").read_text()
    assert re.search(rf"env_var\('{ENV_WAREHOUSE}'", profile)


def test_only_a_run_writes_the_folders_into_the_environment() -> None:
    """One writer: run_main_job hands its folders to the code location it loads; `outcomes ui` passes
    them to its child's environment without changing its own; nothing else sets them."""
    writers = []
    for path in sorted((PROJECT_ROOT / "pipelines").rglob("*.py")):
        text = path.read_text()
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative == "pipelines/settings.py":
            continue
        writers += [f"{relative}: export_to_environment"] * text.count("export_to_environment(")
        writers += [f"{relative}: {m.group(0)}" for m in re.finditer(
            r"os\.environ(\[|\.update\(|\.setdefault\()\s*(ENV_(LANDING|WAREHOUSE|REPORTS)|[\"']OUTCOMES_"
            r"(LANDING|WAREHOUSE|REPORTS))", text)]
    assert writers == ["pipelines/run.py: export_to_environment"]


def test_a_run_scans_the_landing_folder_once(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "sessions").mkdir(parents=True)
    (landing / "sessions" / "sessions_2025-01.csv").write_text("x\n")
    folders = Folders(landing=str(landing), warehouse=str(tmp_path / "w"), reports=str(tmp_path / "r"))
    first = folders.delivered("run-1")
    (landing / "sessions" / "sessions_2025-02.csv").write_text("x\n")  # arrives while run-1 is ingesting
    assert folders.delivered("run-1") is first
    assert first.months == ["2025-01"]  # every export of run-1 loads from the same picture
    assert folders.delivered("run-2").months == ["2025-01", "2025-02"]  # the next run sees it


def test_every_connection_has_the_memory_cap_and_a_spill_folder_in_its_warehouse(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #19, item 4: the pipeline's connections (sql.connect), the Dagster resource, GX's and dbt's
    share one memory cap and spill inside the warehouse folder; nothing in pipelines/ outside the
    tools opens DuckDB another way."""
    monkeypatch.setenv("OUTCOMES_MEMORY_LIMIT", "512MB")
    with connect(tmp_path / "build.duckdb") as con:
        limit, spill = con.execute("SELECT current_setting('memory_limit'), "
                                   "current_setting('temp_directory')").fetchone()
    assert limit.replace(" ", "") in {"488.2MiB", "512.0MB", "512MB"} and spill == str(tmp_path / ".spill")
    profile = (PROJECT_ROOT / "dbt" / "profiles.yml").read_text()
    assert f"env_var('{ENV_MEMORY_LIMIT}', '{DEFAULT_MEMORY_LIMIT}')" in profile
    assert f"env_var('{ENV_WAREHOUSE}', '../warehouse') }}}}/{SPILL_FOLDER}" in profile
    opened = []
    for path in sorted((PROJECT_ROOT / "pipelines").rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative.startswith("pipelines/tools/") or relative == "pipelines/sql.py":
            continue
        opened += [f"{relative}: {m.group(0)}" for m in re.finditer(r"duckdb(_module)?\.connect\(",
                                                                   path.read_text())]
    assert opened == []
    assert "connection_config(path)" in (PROJECT_ROOT / "pipelines" / "validate" / "gx_runner.py").read_text()
