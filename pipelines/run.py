"""Run the main job in this process against the project's Dagster instance, and summarise it."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.settings import Settings

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    """What a person wants to see after a run: where things are and the headline figures."""

    success: bool
    run_id: str
    months: list[str]
    warehouse: str
    accounting: list[tuple] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
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
        lines.append(f"  {'export':<15} {'read':>11} {'loaded':>11} {'quarantined':>11} {'held':>7} "
                     f"{'collapsed':>9}  balanced")
        for export, read, loaded, quarantined, held, collapsed, balanced in self.accounting:
            lines.append(f"  {export:<15} {read:>11,} {loaded:>11,} {quarantined:>11,} {held:>7,} "
                         f"{collapsed:>9,}  {'yes' if balanced else 'NO'}")
        lines += [f"  {label:<19} {n:>12,}" for label, n in self.figures.items()]
        lines += [f"  rejected file: {reason}" for reason in self.rejections]
        lines += [f"  check {name}: {state}" for name, state in self.checks.items()]
        return "\n".join(lines)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def run_main_job(settings: Settings, months: list[str]) -> RunSummary:
    """Materialize every asset for the month range in a single run; the run lands in DAGSTER_HOME."""
    from pipelines.definitions import build_definitions

    job = build_definitions(settings).resolve_job_def("main")
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
                else f"FAILED ({e.asset_check_evaluation_data.severity.value.lower()})"
            )
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
    summary = RunSummary(result.success, result.run_id, months, str(settings.build_db), checks=checks)
    if settings.build_db.exists():
        with duckdb.connect(str(settings.build_db), read_only=True) as con:
            summary.accounting = con.execute(
                "SELECT export, sum(rows_read), sum(rows_loaded), sum(rows_quarantined), sum(rows_held), "
                "sum(duplicates_collapsed), bool_and(balanced) FROM data_quality.file_accounting "
                "GROUP BY export ORDER BY export"
            ).fetchall() if _has_table(con, "data_quality", "file_accounting") else []
            summary.rejections = [r[0] for r in con.execute(
                "SELECT reason FROM raw.file_versions WHERE status = 'rejected' ORDER BY recorded_at"
            ).fetchall()] if _has_table(con, "raw", "file_versions") else []
            if _has_table(con, "staging", "sessions"):
                figures = con.execute(
                    "SELECT count(DISTINCT site_id), count(DISTINCT patient_id), count(*), "
                    "count_if(status = 'completed') FROM staging.sessions"
                ).fetchone() or (0, 0, 0, 0)
                summary.figures = dict(zip(["sites", "patients", "sessions", "completed sessions"],
                                           map(int, figures), strict=True))
    return summary
