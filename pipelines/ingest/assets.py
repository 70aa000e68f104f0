"""Partitioned ingestion assets: one per export, loading landing files into raw.<export>."""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from pipelines import contract
from pipelines.check_results import evaluations
from pipelines.ingest.discover import is_synthetic
from pipelines.ingest.load import LoadResult, load_files
from pipelines.partitions import monthly_partitions
from pipelines.redaction import values_withheld
from pipelines.resources import Folders
from pipelines.settings import id_patterns

OWNERS = ["team:data-engineering"]


def raw_asset_key(export_name: str) -> AssetKey:
    return AssetKey(["raw", export_name])


def _metadata(results: list[LoadResult], missing: list[str], total: int) -> dict[str, MetadataValue]:
    by_status = {s: [r for r in results if r.status == s]
                 for s in ("loaded", "unchanged", "rejected", "retracted")}
    drift = sorted({c for r in results for c in r.drift})
    return {
        "dagster/row_count": MetadataValue.int(total),
        "records_read": MetadataValue.int(sum(r.records for r in by_status["loaded"])),
        "malformed_lines": MetadataValue.int(sum(r.malformed for r in by_status["loaded"])),
        "files_loaded": MetadataValue.int(len(by_status["loaded"])),
        "files_unchanged": MetadataValue.int(len(by_status["unchanged"])),
        "files_rejected": MetadataValue.int(len(by_status["rejected"])),
        "files_retracted": MetadataValue.int(len(by_status["retracted"])),
        "months_missing": MetadataValue.text(", ".join(missing) or "none"),
        "schema_drift_columns": MetadataValue.text(", ".join(drift) or "none"),
    }


def _acceptance(result: LoadResult | None) -> tuple[bool, dict[str, MetadataValue]]:
    """files_accepted for one month: passed unless its file was rejected (no file: nothing to refuse)."""
    rejected = result is not None and result.status == "rejected"
    return not rejected, {
        "file": MetadataValue.text(result.file if result else "none delivered"),
        "status": MetadataValue.text(result.status if result else "missing"),
        "rejection": MetadataValue.md(f"- {result.reason}" if rejected and result else "none"),
        # the reason as data, for the run summary (a reason can span lines)
        "rejection_reasons": MetadataValue.json([result.reason] if rejected and result else []),
        "retraction_notes": MetadataValue.json(
            [result.reason] if result is not None and result.status == "retracted" else []),
    }


def build_ingest_asset(export_name: str) -> AssetsDefinition:
    """The asset that loads every requested month of one export into raw.<export>."""
    exp = contract.export(export_name)
    key = raw_asset_key(export_name)

    @asset(
        key=key,
        partitions_def=monthly_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="ingest",
        owners=OWNERS,
        kinds={"duckdb"},
        check_specs=[AssetCheckSpec(
            "files_accepted", asset=key, blocking=True,
            description="Fails when a landing file of the run was rejected whole (PHI, missing required "
            "column, unreadable); nothing downstream runs on those months until a good file arrives.",
        )],
        description=(
            f"Raw {export_name} export rows, as delivered (text columns) with lineage: source file, "
            f"sha256, line number, ingested-at. {exp.description} Guarded against PHI before anything "
            "is written; malformed lines go to raw.malformed_lines; a month is replaced in one "
            "transaction; identical re-deliveries are no-ops."
        ),
    )
    @values_withheld(key.to_user_string())
    def _ingest(
        context: AssetExecutionContext, duckdb: DuckDBResource, folders: Folders
    ) -> Iterator[Any]:
        found = folders.delivered(context.run_id)
        patterns = id_patterns()  # this network's id shapes, once for all the run's files
        synthetic = is_synthetic(folders.landing_path)
        for conflict in found.conflicts:
            context.log.warning(f"more than one file for {conflict}; none of them loaded")
        for problem in found.unreadable:
            if f"/{export_name}/" in problem:
                context.log.warning(f"skipped {problem}")
        missing: list[str] = []
        files = []
        for month in context.partition_keys:
            file = found.file_for(export_name, month)
            if file is None:
                missing.append(month)
            else:
                files.append(file)
        with duckdb.get_connection() as con:
            results = load_files(con, files, patterns, synthetic)  # one pass over all the run's files
            for result in results:
                if result.status == "rejected":
                    context.log.error(f"rejected: {result.reason}")
                elif result.status == "retracted":
                    context.log.warning(result.reason)
                else:
                    context.log.info(f"{result.file}: {result.status}, {result.records} records, "
                                     f"{result.malformed} malformed")
                if result.drift:
                    context.log.warning(f"{result.file}: ignored unknown column(s) {', '.join(result.drift)}")
            totals = dict(con.execute(
                f"SELECT export_month, count(*) FROM raw.{export_name} WHERE export_month IN "
                "(SELECT unnest(?::VARCHAR[])) GROUP BY 1", [list(context.partition_keys)]).fetchall())
        if missing:
            context.log.warning(f"no {export_name} file in landing for {', '.join(missing)}")
        # Counts per partition (issue #16): each month's materialization says what that month holds.
        by_month = {r.month: r for r in results}
        for month in context.partition_keys:
            month_results = [by_month[month]] if month in by_month else []
            context.add_asset_metadata(_metadata(month_results, [month] if month in missing else [],
                                                 int(totals.get(month, 0))), partition_key=month)
        yield MaterializeResult()
        yield from evaluations(
            AssetCheckKey(key, "files_accepted"), context.assets_def.check_specs_by_output_name,
            {month: _acceptance(by_month.get(month)) for month in context.partition_keys},
            AssetCheckSeverity.ERROR, blocking=True)

    return _ingest


ingest_assets = [build_ingest_asset(name) for name in contract.EXPORTS]
