"""Validate stage: typed staging tables, row-level quarantine and per-file accounting, per export month."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
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
from pipelines.ingest.assets import OWNERS, raw_asset_key
from pipelines.partitions import listed_months, monthly_partitions
from pipelines.redaction import values_withheld
from pipelines.settings import ENV_MAX_QUARANTINED_SHARE, share
from pipelines.validate.lake import sync_lake
from pipelines.validate.quarantine import (
    StageResult,
    clear_month,
    months_with_adoptable_orphans,
    months_with_lost_parents,
    retracted_months,
    stage_months,
)
from pipelines.validate.quarantined_share import earlier_months_over_limit, over_limit


def staging_asset_key(export_name: str) -> AssetKey:
    return AssetKey(["staging", export_name])


def _loaded_months(con: duckdb.DuckDBPyConnection, export_name: str, months: list[str]) -> list[str]:
    rows = con.execute(
        "SELECT export_month FROM raw.file_versions WHERE export = ? AND is_current "
        "AND export_month IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1",
        [export_name, months],
    ).fetchall()
    return [r[0] for r in rows]


def _counts(result: StageResult | None, reasons: dict[str, int]) -> dict[str, MetadataValue]:
    """One month's counts (zeros for a month without a loaded file)."""
    def n(value: int) -> MetadataValue:
        return MetadataValue.int(value)
    return {
        "dagster/row_count": n(result.loaded if result else 0),
        "rows_read": n(result.rows_read if result else 0),
        "rows_quarantined": n(result.quarantined if result else 0),
        "rows_held_orphans": n(result.held if result else 0),
        "rows_held_by_correction": n(result.held_by_correction if result else 0),
        "malformed_lines": n(result.malformed if result else 0),
        "duplicates_collapsed": n(result.collapsed if result else 0),
        **{f"reason:{name}": n(count) for name, count in reasons.items()},
    }


def _accounted(result: StageResult | None) -> tuple[bool, dict[str, MetadataValue]]:
    """rows_accounted for one month: read = loaded + quarantined + collapsed (nothing to check
    without a file)."""
    if result is None:
        return True, {"file": MetadataValue.text("none loaded")}
    return result.balanced, {
        "rows_read": MetadataValue.int(result.rows_read), "rows_loaded": MetadataValue.int(result.loaded),
        "rows_quarantined": MetadataValue.int(result.quarantined),
        "duplicates_collapsed": MetadataValue.int(result.collapsed),
    }


def _share(result: StageResult | None, line: str | None,
           limit: float) -> tuple[bool, dict[str, MetadataValue]]:
    """quarantined_share for one month; the line names the file, the share and the top reasons."""
    lost = (result.quarantined - result.held) if result else 0
    return line is None, {
        "rows_quarantined_not_held": MetadataValue.int(lost),
        "rows_read": MetadataValue.int(result.rows_read if result else 0),
        "limit": MetadataValue.float(limit),
        "over_limit": MetadataValue.md(f"- {line}" if line else "none"),
        "blocking_reasons": MetadataValue.json([line] if line else []),  # for the run summary
    }


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
    ) -> Iterator[Any]:
        results: list[StageResult] = []
        with duckdb.get_connection() as con:
            for month in retracted_months(con, export_name, list(context.partition_keys)):
                clear_month(con, export_name, month)
                context.log.warning(f"{export_name} {month}: retracted, its rows left staging and quarantine")
            # Every month of the run in one pass (one query per step for all months, not per month).
            loaded = _loaded_months(con, export_name, list(context.partition_keys))
            results += stage_months(con, export_name, loaded)
            adoptable = [m for m in months_with_adoptable_orphans(con, export_name)
                         if m not in context.partition_keys]
            for result in stage_months(con, export_name, adoptable):
                context.log.info(f"{export_name} {result.month}: re-tried held orphans, {result.held} held")
                results.append(result)
            staged = {r.month for r in results}
            # a corrected sessions file removed sessions these rows name
            lost = [m for m in months_with_lost_parents(con, export_name) if m not in staged]
            for result in stage_months(con, export_name, lost):
                context.log.warning(f"{export_name} {result.month}: {result.held_by_correction} rows name a "
                                    "session a corrected sessions file removed; held")
                results.append(result)
            reasons: dict[str, dict[str, int]] = {}
            for month, reason, n in con.execute(
                    "SELECT export_month, reason, count(*) FROM (SELECT export_month, unnest(reasons) "
                    f"AS reason FROM quarantine.{export_name} WHERE export_month IN "
                    "(SELECT unnest(?::VARCHAR[]))) GROUP BY ALL ORDER BY 3 DESC",
                    [[r.month for r in results]]).fetchall():
                reasons.setdefault(month, {})[reason] = int(n)
            limit = share(ENV_MAX_QUARANTINED_SHARE)
            earlier = earlier_months_over_limit(con, export_name, [r.month for r in results], limit)
            too_many = over_limit(con, export_name, [*results, *earlier], limit)
            lake = sync_lake(con, Path(duckdb.database).parent, export_name)
            if lake.written or lake.removed:
                context.log.info(f"{export_name}: lake partitions written {listed_months(lake.written)}, "
                                 f"removed {listed_months(lake.removed)}")
        by_month = {r.month: r for r in results}
        # Counts per partition (issue #16): each month's materialization says what that month holds.
        for month in context.partition_keys:
            counts = _counts(by_month.get(month), reasons.get(month, {}))
            context.add_asset_metadata(counts, partition_key=month)
        yield MaterializeResult()
        for line in too_many.values():
            context.log.error(line)
        months = sorted(set(context.partition_keys) | set(by_month))  # and months re-tried for orphans
        checks = context.assets_def.check_specs_by_output_name
        yield from evaluations(AssetCheckKey(key, "rows_accounted"), checks,
                               {m: _accounted(by_month.get(m)) for m in months},
                               AssetCheckSeverity.ERROR, True)
        # and earlier months still above the limit: they stop this run too
        over = {**by_month, **{r.month: r for r in earlier}}
        yield from evaluations(AssetCheckKey(key, "quarantined_share"), checks,
                               {m: _share(over.get(m), too_many.get(m), limit)
                                for m in sorted(set(months) | set(over))},
                               AssetCheckSeverity.ERROR, True)

    return _stage


staging_assets = [build_staging_asset(name) for name in contract.EXPORTS]
