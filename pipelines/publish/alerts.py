"""Alerts: a failed run and a late export month each leave a clear message in a log line and a file.

Files go to warehouse/alerts/; when OUTCOMES_ALERT_WEBHOOK is set, the same text is POSTed there
as JSON ({"text": ...}). Messages carry job, run, step and error first lines only: errors raised
by this project never quote row values, and nothing else of a run is copied.
"""

import json
import os
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from pipelines.publish.schedules import missing_exports, previous_month
from pipelines.resources import Folders

ENV_WEBHOOK = "OUTCOMES_ALERT_WEBHOOK"
LATE_AFTER_DAY = 5  # an export month is late when it is not in landing/ by the 5th of the next month


def write_alert(folders: Folders, name: str, text: str) -> Path:
    """Write the alert file (and POST it when a webhook is configured); returns the file."""
    folder = folders.warehouse_path / "alerts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}_{name}.txt"
    path.write_text(text + "\n", encoding="utf-8")
    url = os.environ.get(ENV_WEBHOOK)
    if url:
        request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
    return path


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "no message"


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Writes `warehouse/alerts/<time>_run_failed_<run>.txt` (and posts to OUTCOMES_ALERT_WEBHOOK) "
    "naming the job, the run, the failed steps and their errors.",
)
def run_failure_alert(context: RunFailureSensorContext, folders: Folders) -> None:
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper
            error = error.cause
        steps.append(f"  step {event.step_key}: {_first_line(error.message if error else None)}")
    single = run.tags.get("dagster/partition", "-")
    first = run.tags.get("dagster/asset_partition_range_start", single)
    last = run.tags.get("dagster/asset_partition_range_end", single)
    text = "\n".join([
        f"Run {run.run_id} of job {run.job_name} FAILED.",
        f"  partitions: {first} .. {last}",
        f"  reason: {_first_line(context.failure_event.message)}",
        *steps,
    ])
    path = write_alert(folders, f"run_failed_{run.run_id[:8]}", text)
    context.log.error(f"{text}\n(alert written to {path})")


@sensor(
    minimum_interval_seconds=6 * 3600,
    description=f"Freshness: from day {LATE_AFTER_DAY} of a month, alerts (file in warehouse/alerts/, log, "
    "optional webhook) when an export of the previous month is not in landing/; once per month and "
    "set of missing exports.",
)
def export_freshness_sensor(context: SensorEvaluationContext, folders: Folders) -> SkipReason:
    now = datetime.now(UTC)
    month = previous_month(now)
    missing = missing_exports(folders, month) if now.day >= LATE_AFTER_DAY else []
    if not missing:
        return SkipReason(f"exports for {month} are in (or not due before day {LATE_AFTER_DAY})")
    state = f"{month}:{','.join(missing)}"
    if context.cursor != state:
        text = (f"Exports LATE for {month}: no {', '.join(missing)} file in {folders.landing_path} "
                f"by day {LATE_AFTER_DAY} of {now:%Y-%m}.")
        write_alert(folders, f"late_{month}", text)
        context.log.warning(text)
        context.update_cursor(state)
    return SkipReason(f"late: {', '.join(missing)} for {month}")

