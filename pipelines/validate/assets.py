"""Validate stage: typed staging tables, row-level quarantine and per-file accounting, per export month."""

from collections.abc import Iterator

import duckdb
from dagster import (
    AssetCheckResult,
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
from pipelines.ingest.assets import OWNERS, raw_asset_key
from pipelines.partitions import monthly_partitions
from pipelines.redaction import values_withheld
from pipelines.settings import ENV_MAX_QUARANTINED_SHARE, share
from pipelines.validate.quarantine import StageResult, months_with_adoptable_orphans, stage_month
from pipelines.validate.quarantined_share import over_limit


def staging_asset_key(export_name: str) -> AssetKey:
    return AssetKey(["staging", export_name])


def _loaded_months(con: duckdb.DuckDBPyConnection, export_name: str, months: list[str]) -> list[str]:
    rows = con.execute(
        "SELECT export_month FROM raw.file_versions WHERE export = ? AND is_current "
        "AND export_month IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1",
        [export_name, months],
    ).fetchall()
    return [r[0] for r in rows]


def build_staging_asset(export_name: str) -> AssetsDefinition:
    """Typed rows of one export that pass every contract rule; the rest quarantined with reasons."""
    key = staging_asset_key(export_name)
    deps = [raw_asset_key(export_name)]
    if export_name != "sessions":
        deps.append(staging_asset_key("sessions"))  # orphans are judged against loaded sessions

    @asset(
        key=key,
        deps=deps,
        partitions_def=monthly_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="validate",
        owners=OWNERS,
        kinds={"duckdb"},
        check_specs=[AssetCheckSpec(
            "rows_accounted", asset=key, blocking=True,
            description="For every file: rows read = rows loaded + rows quarantined + exact duplicates "
            "collapsed (quarantine.file_accounting). Blocks everything downstream when a row is lost.",
        ), AssetCheckSpec(
            "quarantined_share", asset=key, blocking=True,
            description="For every file: the share of its rows quarantined (held orphans excepted) is at "
            "most OUTCOMES_MAX_QUARANTINED_SHARE (default 5%; files with fewer than 10 such rows pass). "
            "Above it the run stops before dbt and publish: the published build stays the previous one.",
        )],
        description=(
            f"Typed {export_name} rows that pass every contract rule (staging.{export_name}). Failing rows "
            f"go to quarantine.{export_name} with their original values, file, line and every reason; "
            "orphans are held and re-tried when later sessions arrive; exact duplicates are collapsed."
        ),
    )
    @values_withheld(key.to_user_string())
    def _stage(
        context: AssetExecutionContext, duckdb: DuckDBResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        results: list[StageResult] = []
        with duckdb.get_connection() as con:
            for month in _loaded_months(con, export_name, list(context.partition_keys)):
                results.append(stage_month(con, export_name, month))
            for month in months_with_adoptable_orphans(con, export_name):
                if month not in context.partition_keys:
                    result = stage_month(con, export_name, month)
                    context.log.info(f"{export_name} {month}: re-tried held orphans, {result.held} held")
                    results.append(result)
            reasons = con.execute(
                "SELECT reason, count(*) FROM (SELECT unnest(reasons) AS reason "
                f"FROM quarantine.{export_name} WHERE export_month IN (SELECT unnest(?::VARCHAR[]))) "
                "GROUP BY 1 ORDER BY 2 DESC",
                [[r.month for r in results]],
            ).fetchall()
            limit = share(ENV_MAX_QUARANTINED_SHARE)
            too_many = over_limit(con, export_name, results, limit)
        yield MaterializeResult(metadata={
            "dagster/row_count": MetadataValue.int(sum(r.loaded for r in results)),
            "rows_read": MetadataValue.int(sum(r.rows_read for r in results)),
            "rows_quarantined": MetadataValue.int(sum(r.quarantined for r in results)),
            "rows_held_orphans": MetadataValue.int(sum(r.held for r in results)),
            "malformed_lines": MetadataValue.int(sum(r.malformed for r in results)),
            "duplicates_collapsed": MetadataValue.int(sum(r.collapsed for r in results)),
            **{f"reason:{name}": MetadataValue.int(int(n)) for name, n in reasons},
        })
        for line in too_many:
            context.log.error(line)
        unbalanced = [r for r in results if not r.balanced]
        yield AssetCheckResult(
            check_name="rows_accounted",
            passed=not unbalanced,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "files_checked": MetadataValue.int(len(results)),
                "files_unbalanced": MetadataValue.int(len(unbalanced)),
                "unbalanced": MetadataValue.md("\n".join(
                    f"- {r.export} {r.month}: read {r.rows_read} != loaded {r.loaded} + quarantined "
                    f"{r.quarantined} + collapsed {r.collapsed}" for r in unbalanced) or "none"),
            },
        )
        yield AssetCheckResult(
            check_name="quarantined_share",
            passed=not too_many,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "files_checked": MetadataValue.int(len(results)),
                "files_over_limit": MetadataValue.int(len(too_many)),
                "limit": MetadataValue.float(limit),
                "over_limit": MetadataValue.md("\n".join(f"- {line}" for line in too_many) or "none"),
                "blocking_reasons": MetadataValue.json(too_many),  # for the run summary
            },
        )

    return _stage


staging_assets = [build_staging_asset(name) for name in contract.EXPORTS]
