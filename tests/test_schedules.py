"""The monthly schedule and the alert sensors, evaluated with Dagster's own helpers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    job,
    op,
)

from pipelines.partitions import EXPORT_MONTHS
from pipelines.publish import alerts
from pipelines.publish.alerts import export_freshness_sensor, run_failure_alert
from pipelines.publish.schedules import monthly_outcomes_schedule, previous_month
from pipelines.resources import Folders
from pipelines.settings import Settings


def folders(settings: Settings) -> dict[str, Folders]:
    return {"folders": Folders.from_settings(settings)}


def test_previous_month_crosses_the_year() -> None:
    assert previous_month(datetime(2026, 1, 1, 6)) == "2025-12"
    assert previous_month(datetime(2026, 3, 31, 23)) == "2026-02"


def test_schedule_requests_the_previous_month_once_its_exports_are_in(settings: Settings,
                                                                      landing: Path) -> None:
    with DagsterInstance.get() as instance:
        context = build_schedule_context(scheduled_execution_time=datetime(2025, 4, 1, 6, tzinfo=UTC),
                                         resources=folders(settings), instance=instance)
        request = monthly_outcomes_schedule(context)
        assert instance.get_dynamic_partitions(EXPORT_MONTHS) == ["2025-03"]  # a partition before its run
    assert request.partition_key == "2025-03"
    assert request.run_key == "monthly:2025-03"
    assert request.job_name in (None, "main")
    assert request.tags["outcomes/trigger"] == "monthly"


def test_schedule_skips_and_says_which_exports_are_missing(settings: Settings, landing: Path) -> None:
    (landing / "vitals" / "vitals_2025-03.csv").unlink()
    context = build_schedule_context(scheduled_execution_time=datetime(2025, 4, 1, 6, tzinfo=UTC),
                                     resources=folders(settings))
    skip = monthly_outcomes_schedule(context)
    assert skip.skip_message == f"2025-03: no vitals export in {settings.landing} yet"


def test_freshness_sensor_alerts_once_for_a_late_month(settings: Settings, landing: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    class Late(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2025, 4, 7, 8, tzinfo=tz)

    monkeypatch.setattr(alerts, "datetime", Late)
    (landing / "sessions" / "sessions_2025-03.csv").unlink()
    first = export_freshness_sensor.evaluate_tick(build_sensor_context(resources=folders(settings)))
    files = list((settings.warehouse / "alerts").glob("*_late_2025-03.txt"))
    assert len(files) == 1
    assert files[0].read_text().startswith("Exports LATE for 2025-03: no sessions file in")
    again = build_sensor_context(cursor=first.cursor, resources=folders(settings))
    export_freshness_sensor.evaluate_tick(again)
    assert len(list((settings.warehouse / "alerts").glob("*.txt"))) == 1


@op
def explode() -> None:
    raise ValueError("exports_2025-03.csv: line 7: a clear message")


@job
def failing_job() -> None:
    explode()


def test_run_failure_sensor_writes_an_alert_and_posts_it(settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.handle_request, daemon=True).start()
    monkeypatch.setenv(alerts.ENV_WEBHOOK, f"http://127.0.0.1:{server.server_port}/alerts")

    with DagsterInstance.get() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == DagsterRunStatus.FAILURE
        failure = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)[0].dagster_event
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=failure, dagster_instance=instance,
            dagster_run=run, resources=folders(settings),
        ).for_run_failure()
        run_failure_alert(context)
    server.server_close()

    files = list((settings.warehouse / "alerts").glob("*_run_failed_*.txt"))
    assert len(files) == 1
    text = files[0].read_text()
    assert text.startswith(f"Run {result.run_id} of job failing_job FAILED.")
    assert "step explode: ValueError: exports_2025-03.csv: line 7: a clear message" in text
    assert received == [{"text": text.rstrip("\n")}]
