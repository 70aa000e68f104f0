"""The main job end to end: CLI, Dagster run in the project's instance, raw tables in DuckDB."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pypdfium2
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from pipelines import contract
from pipelines.cli import build_parser, main
from pipelines.code_location import DEFINITIONS_MODULE
from pipelines.partitions import current_month, registration
from pipelines.publish.report.data import SYNTHETIC_TEXT
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.settings import Settings, load_settings
from pipelines.tools.synth import SCALES, generate
from tests.conftest import TINY, TinyBuild, read_build


def raw_counts(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        return {e: con.execute(f"SELECT count(*) FROM raw.{e}").fetchone()[0] for e in contract.EXPORTS}


def synth_rows(landing: Path) -> dict[str, int]:
    manifest = json.loads((landing / "_synth" / "manifest.json").read_text())
    return manifest["rows"]


def test_run_loads_every_row_and_records_the_run(tiny_build: TinyBuild,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`outcomes run` of the tiny network (the shared build: what it printed, its instance, its files)."""
    settings, landing, out = read_build(tiny_build, monkeypatch), tiny_build.landing, tiny_build.printed
    assert f"warehouse: {settings.build_db}" in out
    assert "SUCCESS" in out
    # progress while it works, plain lines when stdout is not a terminal (as here)
    steps = (("ingest", "raw/sessions"), ("validate", "staging/vitals"),
             ("transform", "dbt build"), ("publish", "publish/warehouse"),
             ("report", "publish/report"))
    for stage, step in steps:
        line = rf"^  \[ *\d+\.\d s\] {stage} +{step} done in \d+\.\d s"
        assert re.search(line, out, re.MULTILINE), stage
    assert re.search(r"^  \[ *\d+\.\d s\] report +report for 2025-03 rendered$", out, re.MULTILINE)
    # dbt's last count comes before its step's line, not after it (the count lines are rate-limited)
    assert re.search(r"transform +dbt: (\d+) of \1 models, seeds and tests done\n"
                     r".*transform +dbt build done", out)
    expected = synth_rows(landing)
    assert raw_counts(settings) == {e: expected[e] for e in contract.EXPORTS}
    assert re.search(r"checks: \d{2,} passed, 0 warnings, 0 failed", out)
    assert re.search(r"PCL-5 response \(>= 30%\) +\d+\.\d%  \(\d+ of \d+ completers\)", out)

    with DagsterInstance.get() as instance:  # the tests' DAGSTER_HOME, as the UI would read it
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["main"]
        assert runs[0].is_success
        # A run of the code location `dagster dev -m pipelines.definitions` serves (issue #16): the
        # UI's timeline and the job's history list runs by this label; re-execution needs the origin.
        assert runs[0].remote_job_origin is not None and runs[0].job_code_origin is not None
        label = f"__repository__@{DEFINITIONS_MODULE}"
        assert runs[0].remote_job_origin.repository_origin.get_label() == label
        labelled = instance.get_runs(RunsFilter(tags={REPOSITORY_LABEL_TAG: label}))
        assert [r.run_id for r in labelled] == [runs[0].run_id]
        # Row counts on every materialization that has rows (dbt's stg views and the report do not).
        events = instance.all_logs(runs[0].run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        keys_without = {e.asset_materialization.asset_key.to_user_string() for e in events
                        if "dagster/row_count" not in e.asset_materialization.metadata}
        assert events
        assert all(k.startswith(("stg/", "publish/report")) for k in keys_without), keys_without
        # A run of three months records each monthly check once per month, passed, and nothing
        # unpartitioned or skipped in between (issue #16: the partition bar showed red).
        evaluations = [e.dagster_event.asset_check_evaluation_data for e in instance.all_logs(
            runs[0].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
        monthly = {}
        for evaluation in evaluations:
            if evaluation.check_name in ("files_accepted", "rows_accounted", "quarantined_share", "gx_suite"):
                monthly.setdefault((evaluation.asset_key.to_user_string(), evaluation.check_name), []).append(
                    (evaluation.partition, evaluation.passed))
        assert len(monthly) == 12, sorted(monthly)
        months = [(m, True) for m in ("2025-01", "2025-02", "2025-03")]
        assert all(sorted(v) == months for v in monthly.values()), monthly
        # Row counts per partition: each month's materialization holds that month's rows.
        per_month = {e.dagster_event.partition: e.asset_materialization.metadata["dagster/row_count"].value
                     for e in events if e.asset_materialization.asset_key == AssetKey(["staging", "vitals"])}
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        staged = dict(con.execute("SELECT export_month, count(*) FROM staging.vitals GROUP BY 1").fetchall())
    assert per_month == staged and len(set(per_month.values())) > 1


def published_build(settings: Settings) -> dict[str, object]:
    with duckdb.connect(str(settings.warehouse / PUBLISHED_NAME), read_only=True) as con:
        cursor = con.execute("SELECT * FROM meta.build")
        return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def pdf_page_texts(path: Path) -> list[str]:
    pdf = pypdfium2.PdfDocument(str(path))
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


@pytest.mark.slow
def test_demo_builds_the_synthetic_network_and_marks_every_output(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """`run --demo` on an empty landing: the demo network, marked in meta.build, summary and every page."""
    assert main(["run", "--demo"]) == 0
    out = capsys.readouterr().out
    assert "DEMO: generating the synthetic demo network" in out
    assert out.count("SYNTHETIC DEMO DATA") == 2  # first and last line of the summary
    assert sorted(p.name for p in (settings.landing / "sessions").iterdir())[0] == "sessions_2025-01.csv"
    assert raw_counts(settings)["sessions"] > 0
    assert published_build(settings)["synthetic"] is True
    last = SCALES["small"].month_labels[-1]  # the demo network's newest month, 2026-06
    html = (settings.reports / f"outcomes_{last}.html").read_text()
    assert 'class="synthetic-banner"' in html and SYNTHETIC_TEXT.split(":")[0] in html
    # its first cohorts' 12-month windows have closed: the report shows CMS159 rather than "none closed"
    section = html[html.index('id="standard-measures"'):html.index('id="safety"')]
    assert "April 2025" in section and "No cohort has closed yet" not in section
    pages = pdf_page_texts(settings.reports / f"outcomes_{last}.pdf")
    assert len(pages) > 5 and all("SYNTHETIC DEMO DATA" in page for page in pages)


def test_run_refuses_a_missing_landing_and_creates_nothing(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    typo = settings.landing.with_name("landnig")
    assert main(["run", "--landing", str(typo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"landing folder {typo} (--landing) does not exist" in err
    assert not typo.exists() and not settings.warehouse.exists() and not settings.reports.exists()


def test_run_refuses_an_empty_landing(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    settings.landing.mkdir()
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert f"no exports in {settings.landing} (OUTCOMES_LANDING)" in err and "--demo" in err
    assert list(settings.landing.iterdir()) == [] and not settings.warehouse.exists()


def test_a_month_after_the_current_one_is_one_line_and_nothing_runs(
        settings: Settings, landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue #13, item 6: a future-dated file used to grow the run to the future month's empty reports."""
    sessions = landing / "sessions"
    shutil.copyfile(sessions / "sessions_2025-01.csv", sessions / "sessions_2099-01.csv")
    assert main(["run"]) == 2
    assert capsys.readouterr().err == (
        f"error: exports for 2099-01 are for months after the current one ({current_month()}): rename or "
        "remove them (an export is for a past or the current month)\n")
    assert not settings.build_db.exists()


def test_partitions_are_the_months_delivered_in_month_order() -> None:
    """Issue #16, item 2: any past month is a partition once delivered; one delivered late, older than
    the others, goes before them (Dagster resolves a run's range in the order partitions were added)."""
    assert registration([], ["2025-02", "2025-01"]) == ([], ["2025-01", "2025-02"])
    assert registration(["2025-01", "2025-02"], ["2025-02"]) == ([], [])
    assert registration(["2025-01", "2025-02"], ["2025-03"]) == ([], ["2025-03"])
    assert registration(["2025-01", "2025-03", "2025-04"], ["2024-11", "2025-02"]) == (
        ["2025-01", "2025-03", "2025-04"], ["2024-11", "2025-01", "2025-02", "2025-03", "2025-04"])


def test_demo_refuses_a_landing_of_real_exports(settings: Settings, landing: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(landing / "_synth")  # exports that were not generated here
    before = sorted(p.relative_to(landing) for p in landing.rglob("*"))
    assert main(["run", "--demo"]) == 2
    assert "--demo writes the synthetic demo network into" in capsys.readouterr().err
    assert sorted(p.relative_to(landing) for p in landing.rglob("*")) == before
    assert not settings.warehouse.exists()


@pytest.mark.slow
def test_identical_redelivery_is_a_no_op(
        settings: Settings, landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(landing / "_synth")  # a clinic's exports: nothing may say "synthetic"
    assert main(["run", "--months", "2024-01..2024-12"]) == 2  # nothing delivered in that range
    assert "the landing folder has no exports in that range (it has 2025-01 .. 2025-03)" in \
        capsys.readouterr().err
    assert main(["run", "--months", "2025-01..2025-02"]) == 0  # a range: only those months
    assert published_build(settings)["months"] == ["2025-01", "2025-02"]
    assert "SYNTHETIC" not in capsys.readouterr().out
    assert published_build(settings)["synthetic"] is False
    html = (settings.reports / "outcomes_2025-02.html").read_text()
    assert "synthetic-banner" not in html.split("</style>")[1]
    before = raw_counts(settings)
    assert main(["run", "--months", "2025-01..2025-02", "--quiet"]) == 0  # the same files again
    assert " s] " not in capsys.readouterr().out  # --quiet: the summary only, no progress lines
    assert raw_counts(settings) == before
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        versions = con.execute("SELECT count(*), count_if(is_current) FROM raw.file_versions").fetchone()
    assert versions == (6, 6)  # 3 exports x 2 months, each loaded once

    # A correction replacing the month (and keeping the old version): tests/test_history.py


def test_flags_beat_environment_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTCOMES_LANDING", str(tmp_path / "env_landing"))
    monkeypatch.delenv("OUTCOMES_REPORTS", raising=False)
    resolved = load_settings(warehouse=tmp_path / "flag_wh")
    assert resolved.landing == tmp_path / "env_landing"
    assert resolved.warehouse == tmp_path / "flag_wh"
    assert resolved.reports == Path(__file__).resolve().parents[1] / "reports"


@pytest.mark.parametrize("command", ["synth", "run", "ui", "contract", "retract", "reproduce", "report"])
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: outcomes {command}" in text
    if command in ("run", "ui"):
        assert "--landing" in text and "OUTCOMES_WAREHOUSE" in text
    if command == "synth":  # only the flags that apply: it writes exports, nothing else
        assert "--landing" in text and "--warehouse" not in text and "--reports" not in text


BAD_VALUES = [
    (["synth", "--patients", "-5"], "argument --patients: -5 is not allowed: at least 1"),
    (["synth", "--months", "0"], "argument --months: 0 is not allowed: at least 1"),
    (["synth", "--start-month", "2025-13"], "argument --start-month: '2025-13' is not a month"),
    (["synth", "--defect-rate", "2"], "--defect-rate: 2 is not allowed: a probability from 0 to 0.5"),
    (["contract", "--write", "/nonexistent-folder/contract.md"],
     "--write: folder /nonexistent-folder does not exist"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_VALUES)
def test_a_bad_value_is_one_line_and_exit_2(argv: list[str], message: str, settings: Settings) -> None:
    done = subprocess.run([str(Path(sys.executable).with_name("outcomes")), *argv], capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("DAGSTER_HOME", "relative/home", "DAGSTER_HOME='relative/home' must be an absolute path"),
    ("OUTCOMES_MEMORY_LIMIT", "lots", "OUTCOMES_MEMORY_LIMIT='lots' is not a size"),
    ("OUTCOMES_GX_MEMORY_LIMIT", "2GB", "OUTCOMES_GX_MEMORY_LIMIT was renamed OUTCOMES_MEMORY_LIMIT"),
    ("OUTCOMES_ID_PATTERNS", "/no/such/patterns.json",
     "OUTCOMES_ID_PATTERNS='/no/such/patterns.json': cannot be read (FileNotFoundError)"),
    ("OUTCOMES_TIMEZONE", "Mars/Olympus", "OUTCOMES_TIMEZONE='Mars/Olympus' is not a time zone"),
    ("OUTCOMES_LOCK_TIMEOUT", "an hour", "OUTCOMES_LOCK_TIMEOUT='an hour' is not a number of seconds"),
    ("OUTCOMES_PUBLISH_STORAGE_VERSION", "v9.9.9",
     "OUTCOMES_PUBLISH_STORAGE_VERSION='v9.9.9' is not a DuckDB version this DuckDB can write"),
    ("OUTCOMES_PUBLISH_STORAGE_VERSION", "v1.0.0'); DROP", "OUTCOMES_PUBLISH_STORAGE_VERSION="),
])
def test_a_bad_setting_is_one_line_and_exit_2(variable: str, value: str, message: str, settings: Settings,
                                               landing: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not settings.warehouse.exists()


def test_a_warehouse_that_is_a_file_is_one_line(settings: Settings, landing: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    settings.warehouse.write_text("not a folder")
    assert main(["run"]) == 2
    assert "OUTCOMES_WAREHOUSE: " in capsys.readouterr().err


@pytest.mark.parametrize("name", ["it's", "back`tick", "back\\slash"])
def test_a_warehouse_path_sql_cannot_quote_is_one_line(name: str, settings: Settings, landing: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The path goes into DuckDB's and Spark's SQL as a quoted string (a warehouse in /tmp/it's/
    failed in validate with a SQL parser error): refused before anything is written."""
    folder = settings.warehouse.parent / name / "warehouse"
    monkeypatch.setenv("OUTCOMES_WAREHOUSE", str(folder))
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "contains a quote or a backslash" in err, err
    assert not folder.exists()


@pytest.mark.slow
def test_definitions_validate_with_the_dagster_cli(settings: Settings) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate", "-m", "pipelines.definitions"],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful" in done.stderr + done.stdout


@pytest.mark.slow
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
            "SELECT bool_and(balanced), sum(rows_quarantined) FROM quarantine.file_accounting").fetchone()
        marts = con.execute("SELECT count(*) FROM marts.response_rates WHERE site_id = 'ALL'").fetchone()
    assert balanced and quarantined > 0
    assert marts[0] > 0


@pytest.mark.slow
def test_a_mostly_quarantined_file_stops_the_run_before_publish(
        settings: Settings, landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue #13, item 3: a vitals month with times in a format nobody expected (here 40% of its rows)
    used to publish shifted figures with warnings only. Now the blocking check stops dbt and publish."""
    path = landing / "vitals" / "vitals_2025-02.csv"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows[: len(rows) * 2 // 5]:
        row["measured_at"] = row["measured_at"].replace("-", "/")
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    assert main(["run"]) == 1
    out = capsys.readouterr().out
    bad = len(rows) * 2 // 5
    assert (f"  blocked file:  vitals_2025-02.csv: 40.0% of its rows quarantined ({bad:,} of {len(rows):,}; "
            f"the limit is 5.0%, OUTCOMES_MAX_QUARANTINED_SHARE): measured_at.wrong_type {bad:,}; nothing is "
            "published until a corrected file arrives or the limit is raised") in out
    assert "FAILED check staging/vitals:quarantined_share" in out
    assert not (settings.warehouse / PUBLISHED_NAME).exists()
    with duckdb.connect(str(settings.build_db), read_only=True) as con:  # dbt never read the month
        marts = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts'").fetchone()
    assert marts == (0,)


def test_a_failed_dbt_step_names_its_nodes_and_never_their_messages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt's messages can quote row values: the failure line names nodes and statuses only."""
    from pipelines import run

    folder = tmp_path / "dbt_build-abcdef1-0123456"
    folder.mkdir()
    (folder / "run_results.json").write_text(json.dumps({"results": [
        {"unique_id": "model.outcomes.int_sessions__assigned_to_courses", "status": "success"},
        {"unique_id": "model.outcomes.response_rates", "status": "error",
         "message": "Conversion Error: could not convert string 'SSN 078-05-1120' to INT32"},
        {"unique_id": "test.outcomes.not_null_x.123", "status": "fail", "message": "Got 3 results"},
    ]}))
    monkeypatch.setattr(run, "DBT_TARGET", tmp_path)

    class Failure:
        step_key = "dbt_build"
        message = "Execution of step failed."
        event_specific_data = None

    line = run._failure_line(Failure(), "abcdef1-rest-of-the-run-id")
    assert line == ("dbt_build: dbt failed on model response_rates (error), "
                    "test not_null_x.123 (fail)")
    assert "078-05-1120" not in line
