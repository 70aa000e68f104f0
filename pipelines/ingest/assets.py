"""Partitioned ingestion assets: one per export, loading landing files into raw.<export>."""


from dagster import (
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
from pipelines.ingest.discover import discover
from pipelines.ingest.load import load_file
from pipelines.partitions import monthly_partitions
from pipelines.resources import Folders

OWNERS = ["team:data-engineering"]


def raw_asset_key(export_name: str) -> AssetKey:
    return AssetKey(["raw", export_name])


def build_ingest_asset(export_name: str) -> AssetsDefinition:
    """The asset that loads every requested month of one export into raw.<export>."""
    exp = contract.export(export_name)

    @asset(
        key=raw_asset_key(export_name),
        partitions_def=monthly_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="ingest",
        owners=OWNERS,
        kinds={"duckdb"},
        description=(
            f"Raw {export_name} export rows, as delivered (text columns) with lineage: source file, "
            f"sha256, line number, ingested-at. {exp.description} A month is replaced in one "
            "transaction; identical re-deliveries are skipped."
        ),
    )
    def _ingest(
        context: AssetExecutionContext, duckdb: DuckDBResource, folders: Folders
    ) -> MaterializeResult:
        found = discover(folders.landing_path)
        for conflict in found.conflicts:
            context.log.warning(f"more than one file for {conflict}; none of them loaded")
        loaded, skipped, missing, rows = [], [], [], 0
        with duckdb.get_connection() as con:
            for month in context.partition_keys:
                file = found.file_for(export_name, month)
                if file is None:
                    missing.append(month)
                    continue
                result = load_file(con, file)
                rows += result.rows
                (skipped if result.skipped_identical else loaded).append(result.file)
                context.log.info(
                    f"{result.file}: {result.rows} rows "
                    + ("(identical bytes already loaded, skipped)" if result.skipped_identical else "loaded")
                )
            total = con.execute(f"SELECT count(*) FROM raw.{export_name}").fetchone()
        if missing:
            context.log.warning(f"no {export_name} file in landing for {', '.join(missing)}")
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(rows),
                "rows_in_table": MetadataValue.int(int(total[0]) if total else 0),
                "files_loaded": MetadataValue.int(len(loaded)),
                "files_unchanged": MetadataValue.int(len(skipped)),
                "months_missing": MetadataValue.text(", ".join(missing) or "none"),
            }
        )

    return _ingest


ingest_assets = [build_ingest_asset(name) for name in contract.EXPORTS]
