"""The landing sensor requests runs for exactly the months whose files are new or changed."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, build_sensor_context
from dagster._core.definitions.sensor_definition import SensorExecutionData

from pipelines.definitions import build_definitions
from pipelines.ingest.sensors import landing_sensor, month_ranges
from pipelines.partitions import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, EXPORT_MONTHS
from pipelines.resources import Folders
from pipelines.settings import Settings


def tick(settings: Settings, cursor: str | None) -> SensorExecutionData:
    with DagsterInstance.get() as instance:  # the test's DAGSTER_HOME: new months become partitions there
        context = build_sensor_context(cursor=cursor, resources={"folders": Folders.from_settings(settings)},
                                       instance=instance)
        return landing_sensor.evaluate_tick(context)


def ranges(data: SensorExecutionData) -> list[tuple[str, str]]:
    return [(r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
            for r in data.run_requests]


def test_month_ranges_group_contiguous_months() -> None:
    assert month_ranges(["2025-03", "2024-12", "2025-01", "2025-05"]) == [
        ("2024-12", "2025-01"), ("2025-03", "2025-03"), ("2025-05", "2025-05")]


def test_first_tick_requests_everything_then_only_what_changed(settings: Settings, landing: Path) -> None:
    first = tick(settings, None)
    assert ranges(first) == [("2025-01", "2025-03")]
    with DagsterInstance.get() as instance:  # the months delivered are the partitions (issue #16)
        assert instance.get_dynamic_partitions(EXPORT_MONTHS) == ["2025-01", "2025-02", "2025-03"]
    assert tick(settings, first.cursor).skip_message.startswith("no new or changed files")

    changed = landing / "vitals" / "vitals_2025-02.csv"
    changed.write_text(changed.read_text().replace("\n", "\r\n"))  # same rows, new bytes
    third = tick(settings, first.cursor)
    assert ranges(third) == [("2025-02", "2025-02")]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key


@pytest.mark.slow
def test_a_sensor_run_request_executes_as_one_run(settings: Settings, landing: Path) -> None:
    request = tick(settings, None).run_requests[0]
    job = build_definitions().resolve_job_def("main")
    with DagsterInstance.get() as instance:
        assert os.environ["DAGSTER_HOME"] in str(instance.root_directory)
        result = job.execute_in_process(instance=instance, tags=request.tags)
    assert result.success
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        months = con.execute("SELECT DISTINCT export_month FROM staging.vitals ORDER BY 1").fetchall()
    assert months == [("2025-01",), ("2025-02",), ("2025-03",)]
