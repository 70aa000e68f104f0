"""The monthly schedule: on the 1st, build everything for the month that just ended, once it is in."""

from datetime import datetime, timedelta

from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from pipelines import contract
from pipelines.ingest.discover import discover
from pipelines.jobs import main_job
from pipelines.partitions import register_months
from pipelines.resources import Folders


def previous_month(moment: datetime) -> str:
    """The YYYY-MM month before the one `moment` falls in."""
    return (moment.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def missing_exports(folders: Folders, month: str) -> list[str]:
    """Exports with no file for `month` in the landing folder."""
    found = discover(folders.landing_path)
    return [name for name in contract.EXPORTS if found.file_for(name, month) is None]


@schedule(
    job=main_job,
    cron_schedule="0 6 1 * *",
    execution_timezone="UTC",
    description="06:00 UTC on the 1st: materialize every asset (warehouse, published copy) for the previous "
    "month's partition. Skips, saying which exports are missing, until all three files are in landing/.",
)
def monthly_outcomes_schedule(
    context: ScheduleEvaluationContext, folders: Folders
) -> RunRequest | SkipReason:
    month = previous_month(context.scheduled_execution_time)
    missing = missing_exports(folders, month)
    if missing:
        return SkipReason(f"{month}: no {', '.join(missing)} export in {folders.landing_path} yet")
    register_months(context.instance, [month])  # the sensor may not have seen it yet
    return RunRequest(run_key=f"monthly:{month}", partition_key=month, tags={"outcomes/trigger": "monthly"})
