"""The main job end to end: CLI, Dagster run in the project's instance, raw tables in DuckDB."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance

from pipelines import contract
from pipelines.cli import build_parser, main
from pipelines.settings import Settings, load_settings
from pipelines.synth import generate
from tests.conftest import TINY


def raw_counts(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        return {e: con.execute(f"SELECT count(*) FROM raw.{e}").fetchone()[0] for e in contract.EXPORTS}


def synth_rows(landing: Path) -> dict[str, int]:
    manifest = json.loads((landing / "_synth" / "manifest.json").read_text())
    return manifest["rows"]


def test_run_loads_every_row_and_records_the_run(settings: Settings, landing: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert f"warehouse: {settings.build_db}" in out
    assert "SUCCESS" in out
    expected = synth_rows(landing)
    assert raw_counts(settings) == {e: expected[e] for e in contract.EXPORTS}
    assert re.search(r"checks: \d{2,} passed, 0 warnings, 0 failed", out)
    assert re.search(r"PCL-5 response \(>= 30%\) +\d+\.\d%  \(\d+ of \d+ completers\)", out)

    with DagsterInstance.get() as instance:  # the tests' DAGSTER_HOME, as the UI would read it
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["main"]
        assert runs[0].is_success
        # Row counts on every materialization that has rows (dbt's stg views and the report do not).
        events = instance.all_logs(runs[0].run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        keys_without = {e.asset_materialization.asset_key.to_user_string() for e in events
                        if "dagster/row_count" not in e.asset_materialization.metadata}
        assert events
        assert all(k.startswith(("dbt_staging/", "publish/report")) for k in keys_without), keys_without


def test_run_generates_sample_exports_when_landing_is_empty(settings: Settings,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "generating the small synthetic network" in out
    assert sorted(p.name for p in (settings.landing / "sessions").iterdir())[0] == "sessions_2025-01.csv"
    assert raw_counts(settings)["sessions"] > 0


def test_run_refuses_empty_landing_with_no_synth(settings: Settings,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--no-synth"]) == 2
    assert f"no export files in {settings.landing}" in capsys.readouterr().err


def test_identical_redelivery_is_a_no_op(settings: Settings, landing: Path) -> None:
    assert main(["run"]) == 0
    before = raw_counts(settings)
    assert main(["run"]) == 0
    assert raw_counts(settings) == before
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        versions = con.execute("SELECT count(*), count_if(is_current) FROM raw.file_versions").fetchone()
    assert versions == (9, 9)  # 3 exports x 3 months, each loaded once


def test_corrected_redelivery_replaces_the_month(settings: Settings, landing: Path) -> None:
    assert main(["run"]) == 0
    path = landing / "sessions" / "sessions_2025-02.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # the clinic re-sends February without its last row
    assert main(["run"]) == 0
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM raw.sessions WHERE export_month = '2025-02'").fetchone()[0]
        history = con.execute(
            "SELECT count(*), count_if(is_current) FROM raw.file_versions "
            "WHERE export = 'sessions' AND export_month = '2025-02'"
        ).fetchone()
    assert n == len(lines) - 2
    assert history == (2, 1)


def test_flags_beat_environment_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTCOMES_LANDING", str(tmp_path / "env_landing"))
    monkeypatch.delenv("OUTCOMES_REPORTS", raising=False)
    resolved = load_settings(warehouse=tmp_path / "flag_wh")
    assert resolved.landing == tmp_path / "env_landing"
    assert resolved.warehouse == tmp_path / "flag_wh"
    assert resolved.reports == Path(__file__).resolve().parents[1] / "reports"


@pytest.mark.parametrize("command", ["synth", "run", "ui", "contract"])
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: outcomes {command}" in text
    if command != "contract":
        assert "--landing" in text and "OUTCOMES_WAREHOUSE" in text


def test_definitions_validate_with_the_dagster_cli(settings: Settings) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate", "-m", "pipelines.definitions"],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful" in done.stderr + done.stdout


def test_defective_exports_are_quarantined_and_the_run_still_succeeds(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(settings.landing, dataclasses.replace(TINY, defect_rate=0.02))
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"checks: \d{2,} passed, 3 warnings, 0 failed", out)
    assert "WARNING check staging/vitals:gx_suite" in out
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        balanced, quarantined = con.execute(
            "SELECT bool_and(balanced), sum(rows_quarantined) FROM data_quality.file_accounting").fetchone()
        marts = con.execute("SELECT count(*) FROM marts.response_rates WHERE site_id = 'ALL'").fetchone()
    assert balanced and quarantined > 0
    assert marts[0] > 0
