"""Great Expectations suites as Dagster asset checks, one per export, counts per expectation."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)
from dagster_duckdb import DuckDBResource

from pipelines import contract
from pipelines.check_results import evaluations
from pipelines.partitions import month_span, monthly_partitions
from pipelines.redaction import values_withheld
from pipelines.validate.assets import staging_asset_key
from pipelines.validate.gx_runner import run_suite


def build_gx_check(export_name: str) -> AssetChecksDefinition:
    """Run expectations/<export>.json on the raw rows of the checked months, inside DuckDB."""

    @asset_check(
        asset=staging_asset_key(export_name),
        name="gx_suite",
        partitions_def=monthly_partitions,
        description=(
            f"Great Expectations suite expectations/{export_name}.json on the delivered {export_name} rows "
            "of the month(s), run in DuckDB through GX's SQL datasource. Warns with the count of "
            f"failing rows per expectation; those rows are in quarantine.{export_name}."
        ),
    )
    @values_withheld(f"{staging_asset_key(export_name).to_user_string()} GX suite")
    def _check(context: AssetCheckExecutionContext, duckdb: DuckDBResource) -> Iterator[Any]:
        months = list(context.partition_keys)
        outcome = run_suite(Path(duckdb.database), export_name, months)
        failed = [o for o in outcome.outcomes if not o.success]
        metadata = {
            "expectations": MetadataValue.int(len(outcome.outcomes)),
            "expectations_failed": MetadataValue.int(len(failed)),
            "rows_checked": MetadataValue.int(max((o.element_count for o in outcome.outcomes), default=0)),
            "seconds": MetadataValue.float(round(outcome.seconds, 3)),
            # GX validates the run's months as one batch (one suite run, not one per month): every
            # month of the batch carries the batch's result.
            "batch_months": MetadataValue.text(month_span(months)),
            **{f"unexpected:{o.rule}": MetadataValue.int(o.unexpected_count) for o in outcome.outcomes},
        }
        yield from evaluations(AssetCheckKey(staging_asset_key(export_name), "gx_suite"),
                               _check.check_specs_by_output_name,
                               {month: (outcome.success, metadata) for month in months},
                               AssetCheckSeverity.WARN, blocking=False)

    return _check


gx_checks = [build_gx_check(name) for name in contract.EXPORTS]
