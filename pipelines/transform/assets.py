"""dbt models as Dagster assets (dagster-dbt): one `dbt build` per run, partition range passed as vars."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from pipelines.partitions import monthly_partitions
from pipelines.transform.project import ensure_manifest, outcomes_dbt_project

OWNERS = ["team:clinical-analytics"]


class OutcomesTranslator(DagsterDbtTranslator):
    """Models keyed by layer and table (dbt_staging/…, intermediate/…, marts/…, reporting/…).

    The key uses the table name (dbt alias): reporting/response_rates is the table
    reporting.response_rates, built by the model reporting_response_rates.

    Sources keep dagster-dbt's default key, [source, table], so `staging.sessions` is the
    validate stage's `staging/sessions` asset.
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            layer = dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else "seeds"
            if dbt_resource_props["resource_type"] == "seed":
                layer = "seeds"
            table = dbt_resource_props.get("alias") or dbt_resource_props["name"]
            return AssetKey([f"dbt_{layer}" if layer == "staging" else layer, table])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "transform"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return OWNERS


@dbt_assets(
    manifest=ensure_manifest(outcomes_dbt_project),
    project=outcomes_dbt_project,
    dagster_dbt_translator=OutcomesTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def outcomes_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Seeds, models and data tests in one `dbt build`; incremental models get the month range as vars.

    dbt unit tests check the SQL, not the data: they run in the test suite (tests/test_dbt_models.py),
    not on every production build.
    """
    months = context.partition_key_range
    dbt_vars = {"min_month": months.start, "max_month": months.end}
    args = ["build", "--vars", json.dumps(dbt_vars), "--exclude-resource-type", "unit_test"]
    yield from dbt.cli(args, context=context).stream()
