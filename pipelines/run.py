"""Run the main job in this process against the project's Dagster instance, and summarise it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import psutil
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from pipelines.ingest.discover import is_synthetic
from pipelines.partitions import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    register_months,
)
from pipelines.progress import RunProgress
from pipelines.publish.report.asset import REPORT_KEY
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.settings import Settings
from pipelines.sql import connect, has_table
from pipelines.transform.project import DBT_DIR, DBT_STEP_PREFIX
from pipelines.writer_lock import writer_lock

# Runs started by `outcomes run` carry the process that ran them, so a later run can tell a
# crashed run (process gone) from one still going.
PID_TAG = "outcomes/pid"
PROCESS_START_TAG = "outcomes/process_started"
TRIGGER_TAG = "outcomes/trigger"  # what started a run: outcomes run, landing_sensor, retract, reproduce
DBT_TARGET = DBT_DIR / "target"  # dbt/project.py's target_path: dagster-dbt's per-run folders
SEVERITY_ORDER = ("passed", "warn", "error")
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

# Headline outcome figures over all cohorts, site ALL: (label, instrument, measure).
HEADLINES = (
    ("PCL-5 response (>= 30%)", "PCL5", "response"),
    ("PCL-5 remission (< 33)", "PCL5", "remission"),
    ("PHQ-9 response (>= 50%)", "PHQ9", "response"),
    ("PHQ-9 remission (< 5)", "PHQ9", "remission"),
)


@dataclass
class RunSummary:
    """What a person wants to see after a run: where things are and the headline figures."""

    success: bool
    run_id: str
    months: list[str]
    warehouse: str
    log_file: str
    accounting: list[tuple] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # files that loaded but stop the run (quarantined share)
    held_by_correction: list[str] = field(default_factory=list)  # "vitals 2025-02: 140 rows"
    retracted: list[str] = field(default_factory=list)  # landing files left out: their month is retracted
    figures: dict[str, int] = field(default_factory=dict)
    outcomes: list[tuple[str, int, int]] = field(default_factory=list)  # label, n_met, n_eligible
    ae_per_100: float | None = None
    checks: dict[str, str] = field(default_factory=dict)  # check -> passed | warn | error
    published: str | None = None
    report: str | None = None
    synthetic: bool = False  # made from generated exports (the landing folder's synth manifest)
    failed_steps: list[str] = field(default_factory=list)  # "step: first line of its error"

    def render(self, seconds: float) -> str:
        banner = ["SYNTHETIC DEMO DATA: this build is made from generated exports, not a clinic's"] \
            if self.synthetic else []
        lines = [
            *banner,
            f"run {self.run_id}: {'SUCCESS' if self.success else 'FAILED'} in {seconds:.1f} s "
            f"({len(self.months)} months {self.months[0]} .. {self.months[-1]})",
            f"warehouse: {self.warehouse}",
            f"published: {self.published or 'not published (the run did not reach the publish stage)'}",
            f"report:    {self.report or 'not rendered (the run did not reach the monthly report)'}",
            f"log:       {self.log_file}",
            *(f"failed:    {line}" for line in self.failed_steps),
            *(["", "  the figures below are the build file as this failed run left it, not a published build"]
              if not self.success else []),
            "",
            f"  {'this run':<15} {'read':>11} {'loaded':>11} {'quarantined':>11} {'held':>7} "
            f"{'collapsed':>9}  balanced",
        ]
        for export, read, loaded, quarantined, held, collapsed, balanced in self.accounting:
            lines.append(f"  {export:<15} {read:>11,} {loaded:>11,} {quarantined:>11,} {held:>7,} "
                         f"{collapsed:>9,}  {'yes' if balanced else 'NO'}")
        lines += [f"  rejected file: {reason}" for reason in self.rejections]
        lines += [f"  blocked file:  {reason}" for reason in self.blocked]
        lines += [f"  left out:      {note}" for note in self.retracted]
        lines += [f"  held by a correction: {held} name a session or patient a corrected or retracted "
                  "sessions file removed (re-deliver that month, or `outcomes retract` it)"
                  for held in self.held_by_correction]
        if self.figures:
            lines += ["", "  " + ", ".join(f"{n:,} {label}" for label, n in self.figures.items())]
        for label, met, eligible in self.outcomes:
            rate = f"{met / eligible:6.1%}" if eligible else "   n/a"
            lines.append(f"  {label:<26} {rate}  ({met:,} of {eligible:,} completers)")
        if self.ae_per_100 is not None:
            lines.append(f"  {'sessions with any AE':<26} {self.ae_per_100:5.1f} per 100 sessions")
        states = {state: sorted(n for n, s in self.checks.items() if s == state)
                  for state in ("warn", "error")}
        lines += ["", f"  checks: {len(self.checks) - len(states['warn']) - len(states['error'])} passed, "
                      f"{len(states['warn'])} warnings, {len(states['error'])} failed"]
        lines += [f"  WARNING check {name} (see its metadata; the rows are in quarantine)"
                  for name in states["warn"]]
        lines += [f"  FAILED check {name}" for name in states["error"]]
        return "\n".join([*lines, *(["", *banner] if banner else [])])


def _failure_line(event: Any, run_id: str) -> str:
    """One line for a failed step: its key and the first line of its error (the log has the rest).

    For dbt, the nodes that failed, by name and status only: dbt's own messages can quote row
    values, which must not reach the terminal.
    """
    error = getattr(event.event_specific_data, "error", None)
    message = (error.message if error is not None else event.message or "").strip()
    cause = re.sub(r"^[\w.]+(Error|Exception): ", "", message.splitlines()[0]) if message else "no message"
    if len(message.splitlines()) > 1 and cause.endswith(":"):  # "N blocking asset checks failed:" + names
        cause += " " + ", ".join(line.strip() for line in message.splitlines()[1:4])
    if event.step_key.startswith(DBT_STEP_PREFIX):
        failed = _failed_dbt_nodes(run_id, event.step_key)
        cause = ("dbt failed on " + ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5
                 else "")) if failed else "dbt failed"
    return f"{event.step_key}: {cause[:300]}"


def _failed_dbt_nodes(run_id: str, step: str) -> list[str]:
    """'model response_rates (error)' for each dbt node of this run's `step` that errored or failed."""
    failed = []
    for results in sorted(DBT_TARGET.glob(f"{step}-{run_id[:7]}-*/run_results.json")):
        for result in json.loads(results.read_text()).get("results", []):
            if result.get("status") in ("error", "fail"):
                kind, _, name = result["unique_id"].split(".", 2)
                failed.append(f"{kind} {name} ({result['status']})")
    return failed



def _accounting_from_events(events: list[Any], checks: dict[str, str]) -> list[tuple]:
    """Where this run's rows went, per export, from the validate assets' own materializations.

    The summary reads no `raw` or `quarantine` table (issue #11: after validate only dbt reads
    them): the validate stage reports its counts as metadata, and its rows_accounted check
    says whether every file balanced. Each month's materialization carries that month's counts.
    """
    fields = ("rows_read", "dagster/row_count", "rows_quarantined", "rows_held_orphans",
              "duplicates_collapsed")
    totals: dict[str, dict[str, int]] = {}
    for event in events:  # one materialization per month of the run, with that month's counts
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key.path[0] == "staging":
            count = totals.setdefault(event.asset_key.path[-1], dict.fromkeys(fields, 0))
            for name, value in event.materialization.metadata.items():
                if name in count:
                    count[name] += int(value.value)
    rows = []
    for export, count in sorted(totals.items()):
        rows.append((export, count["rows_read"], count["dagster/row_count"], count["rows_quarantined"],
                     count["rows_held_orphans"], count["duplicates_collapsed"],
                     checks.get(f"staging/{export}:rows_accounted") == "passed"))
    return rows


def _held_by_correction(events: list[Any]) -> list[str]:
    """'vitals 2025-02: 140 rows' for each month this run staged with rows a correction orphaned."""
    held = []
    for event in events:
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key.path[0] == "staging":
            n = event.materialization.metadata.get("rows_held_by_correction")
            if n is not None and int(n.value):
                held.append(f"{event.asset_key.path[-1]} {event.partition}: {int(n.value):,} rows")
    return sorted(held)


def _reasons_from_events(events: list[Any], check: str, key: str) -> list[str]:
    """The reasons a check of this run gave as a JSON list: why files were rejected (files_accepted,
    `rejection_reasons`) or stop the run (quarantined_share, `blocking_reasons`)."""
    reasons = []
    for event in events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION" \
                and event.asset_check_evaluation_data.check_name == check:
            given = event.asset_check_evaluation_data.metadata.get(key)
            reasons += list(given.value) if given else []
    return reasons


def _read_figures(summary: RunSummary, db: Path) -> None:
    """Fill the summary's headline figures from dbt's models (read-only, after the run released the file)."""
    with connect(db, read_only=True) as con:
        if has_table(con, "stg", "sessions"):
            figures = con.execute(
                "SELECT count(DISTINCT site_id), count(DISTINCT patient_id), count(*) FROM stg.sessions"
            ).fetchone() or (0, 0, 0)
            summary.figures = dict(zip(["sites", "patients", "sessions"], map(int, figures), strict=True))
        if has_table(con, "marts", "response_rates"):
            for label, instrument, measure in HEADLINES:
                met, eligible = con.execute(
                    "SELECT coalesce(sum(n_met), 0), coalesce(sum(n_eligible), 0) FROM marts.response_rates "
                    "WHERE site_id = 'ALL' AND instrument = ? AND measure = ?",
                    [instrument, measure],
                ).fetchone() or (0, 0)
                summary.outcomes.append((label, int(met), int(eligible)))
        if has_table(con, "marts", "adverse_events"):
            row = con.execute(
                "SELECT 100.0 * sum(n_sessions_with_event) / nullif(sum(n_sessions), 0) "
                "FROM marts.adverse_events WHERE site_id = 'ALL' AND ae_term = 'any'"
            ).fetchone()
            summary.ae_per_100 = float(row[0]) if row and row[0] is not None else None


def _process_tags() -> dict[str, str]:
    me = psutil.Process()
    return {PID_TAG: str(me.pid), PROCESS_START_TAG: f"{me.create_time():.3f}"}


def _alive(tags: dict[str, str]) -> bool:
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        return f"{process.create_time():.3f}" == tags.get(PROCESS_START_TAG)
    except (KeyError, ValueError, psutil.Error):
        return False


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Mark runs whose `outcomes run` process died (killed, machine lost) as failed.

    An in-process run has no run monitor: after a SIGKILL it would stay STARTED for ever, the
    UI would show it running, and the run-failure alert would never fire. Returns their ids.
    """
    failed = []
    for run in instance.get_runs(RunsFilter(
            statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED])):
        if PID_TAG in run.tags and not _alive(run.tags):
            instance.report_run_failed(run, message=f"the outcomes run process (pid {run.tags[PID_TAG]}) "
                                                    "ended without finishing the run (killed or crashed)")
            failed.append(run.run_id)
    return failed


LOGS_KEPT = 30  # per-run log files kept in warehouse/logs (older ones are removed)


def run_log_file(settings: Settings, run_id: str) -> Path:
    """This run's own log file, warehouse/logs/run_<UTC time>_<run id>.log; `last_run.log` links to the
    newest. Written only while the run holds the writer lock, so no two runs share a log."""
    logs = settings.warehouse / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in sorted(logs.glob("run_*.log"))[:-(LOGS_KEPT - 1)]:
        old.unlink(missing_ok=True)
    path = logs / f"run_{datetime.now(UTC):%Y%m%dT%H%M%S}_{run_id[:8]}.log"
    link = logs / "last_run.log"
    staged = logs / f".last_run.{run_id[:8]}.tmp"
    staged.unlink(missing_ok=True)
    staged.symlink_to(path.name)
    os.replace(staged, link)  # a regular last_run.log of an older version is replaced too
    return path


def run_main_job(settings: Settings, months: list[str], progress: TextIO | None = None,
                 trigger: str = "outcomes run", tags: dict[str, str] | None = None) -> RunSummary:
    """Materialize every asset for the month range in a single run; the run lands in DAGSTER_HOME.

    Holds the warehouse's writer lock from before the run to after the summary's reads (another
    writer makes it wait, saying who, on stderr). dbt's own progress output goes to this run's
    log file rather than the terminal; `progress` (the terminal) gets a line per finished step.
    """
    def waiting(message: str) -> None:
        print(f"waiting: {message}", file=sys.stderr, flush=True)

    with writer_lock(settings.warehouse, trigger, on_wait=waiting):
        return _run_locked(settings, months, progress, {TRIGGER_TAG: trigger, **(tags or {})})


def _run_locked(settings: Settings, months: list[str], progress: TextIO | None,
                tags: dict[str, str]) -> RunSummary:
    from pipelines.code_location import run_main_job_here
    from pipelines.settings import export_to_environment

    export_to_environment(settings)  # the code location loads its folders from the environment
    run_id = str(uuid.uuid4())  # a Dagster run id is a UUID4 string
    log_file = run_log_file(settings, run_id)
    # Dagster's console logger (errors, stack traces, "Not executing" lines) and dbt's output go
    # to the log file; the terminal gets the summary, which names the failed steps in one line each.
    with DagsterInstance.get() as instance, log_file.open("w") as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        fail_orphaned_runs(instance)
        register_months(instance, months)  # the run's months are partitions (dynamic: the months delivered)
        watcher = RunProgress(instance, run_id, progress, DBT_TARGET) if progress else None
        if watcher:
            watcher.start()
        try:
            result = run_main_job_here(
                instance, run_id, run_config=QUIET_LOGS,
                tags={ASSET_PARTITION_RANGE_START_TAG: months[0], ASSET_PARTITION_RANGE_END_TAG: months[-1],
                      **tags, **_process_tags()})
        finally:
            if watcher:
                watcher.stop()
    events = result.all_events
    checks: dict[str, str] = {}
    for event in events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.asset_check_evaluation_data
            name = f"{'/'.join(check.asset_key.path)}:{check.check_name}"
            state = "passed" if check.passed else check.severity.value.lower()
            # one evaluation per month: the check's state in the summary is its worst month's
            checks[name] = max(checks.get(name, state), state, key=SEVERITY_ORDER.index)
    summary = RunSummary(result.success, result.run_id, months, str(settings.build_db), str(log_file),
                         checks=checks, synthetic=is_synthetic(settings.landing),
                         failed_steps=[_failure_line(event, run_id) for event in events
                                       if event.event_type_value == "STEP_FAILURE"],
                         accounting=_accounting_from_events(events, checks),
                         rejections=_reasons_from_events(events, "files_accepted", "rejection_reasons"),
                         blocked=_reasons_from_events(events, "quarantined_share", "blocking_reasons"),
                         held_by_correction=_held_by_correction(events),
                         retracted=_reasons_from_events(events, "files_accepted", "retraction_notes"))
    if settings.build_db.exists():
        _read_figures(summary, settings.build_db)
    published = settings.warehouse / PUBLISHED_NAME
    if published.exists():
        with connect(published, read_only=True) as con:
            build_id, built_at, run_id = con.execute(
                "SELECT build_id, built_at, dagster_run_id FROM meta.build").fetchone()
        summary.published = f"{published} (build {build_id}, {built_at:%Y-%m-%d %H:%M} UTC, read-only)"
        if run_id != result.run_id:
            summary.published += ": the previous build, unchanged by this run"
    for event in events:  # the newest month's report, rendered by this run or kept (same inputs)
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key == REPORT_KEY:
            metadata = event.materialization.metadata
            rendered = metadata.get("rendered")
            kept = ", unchanged: same inputs" if rendered is not None and not rendered.value else ""
            summary.report = (f"{metadata['html_path'].value} and {Path(metadata['pdf_path'].value).name} "
                              f"({metadata['pdf_pages'].value} pages{kept})")
            if "internal_html_path" in metadata:
                summary.report += (f"\n           internal edition (small cells shown, do not distribute): "
                                   f"{metadata['internal_html_path'].value}")
    return summary
