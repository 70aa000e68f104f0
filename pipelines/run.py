"""Run the main job in this process against the project's Dagster instance, and summarise it."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines import contract
from pipelines.settings import Settings

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    """What a person wants to see after a run: where things are and the headline figures."""

    success: bool
    run_id: str
    months: list[str]
    warehouse: str
    rows: dict[str, int] = field(default_factory=dict)
    figures: dict[str, int] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    report: str | None = None

    def render(self, seconds: float) -> str:
        lines = [
            f"run {self.run_id}: {'SUCCESS' if self.success else 'FAILED'} in {seconds:.1f} s "
            f"({len(self.months)} months {self.months[0]} .. {self.months[-1]})",
            f"warehouse: {self.warehouse}",
            f"report:    {self.report or 'not built yet (the publish stage lands with issue #5)'}",
        ]
        lines += [f"  raw.{name:<15} {n:>12,} rows" for name, n in self.rows.items()]
        lines += [f"  {label:<19} {n:>12,}" for label, n in self.figures.items()]
        lines += [f"  check {name}: {state}" for name, state in self.checks.items()]
        return "\n".join(lines)


def run_main_job(settings: Settings, months: list[str]) -> RunSummary:
    """Materialize every asset for the month range in a single run; the run lands in DAGSTER_HOME."""
    from pipelines.definitions import defs  # loaded after the CLI exported the folders

    settings.warehouse.mkdir(parents=True, exist_ok=True)
    job = defs.resolve_job_def("main")
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config=QUIET_LOGS,
            tags={ASSET_PARTITION_RANGE_START_TAG: months[0], ASSET_PARTITION_RANGE_END_TAG: months[-1]},
            raise_on_error=False,
        )
        checks = {
            f"{'/'.join(e.asset_check_evaluation_data.asset_key.path)}:"
            f"{e.asset_check_evaluation_data.check_name}": (
                "passed" if e.asset_check_evaluation_data.passed
                else f"{e.asset_check_evaluation_data.metadata['violations'].value} violations"
            )
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
    summary = RunSummary(result.success, result.run_id, months, str(settings.build_db), checks=checks)
    if settings.build_db.exists():
        with duckdb.connect(str(settings.build_db), read_only=True) as con:
            for name in contract.EXPORTS:
                got = con.execute(f"SELECT count(*) FROM raw.{name}").fetchone()
                summary.rows[name] = int(got[0]) if got else 0
            figures = con.execute(
                "SELECT count(DISTINCT site_id), count(DISTINCT patient_id), count(*), "
                "count_if(status = 'completed') FROM raw.sessions"
            ).fetchone() or (0, 0, 0, 0)
            summary.figures = dict(zip(["sites", "patients", "sessions", "completed sessions"],
                                       map(int, figures), strict=True))
    return summary
