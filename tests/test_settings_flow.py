"""Settings travel one way (issue #17, item 3): a Settings object, the environment at a process
boundary, one resource inside Dagster; and one scan of the landing folder per run."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.definitions import build_definitions
from pipelines.resources import Folders
from pipelines.settings import ENV_WAREHOUSE, PROJECT_ROOT, Settings, load_settings


def test_the_definitions_and_dbt_read_the_same_folders(settings: Settings) -> None:
    folders = build_definitions().resources["folders"]
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
