"""dbt models as Dagster assets (dagster-dbt): one `dbt build` per run, partition range passed as vars."""

import json
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MetadataValue, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from pipelines.partitions import monthly_partitions
from pipelines.transform.project import ensure_manifest, outcomes_dbt_project

OWNERS = ["team:clinical-analytics"]
KEEP_RUN_TARGETS = 10  # dagster-dbt's per-run folders under dbt/target kept for debugging

# The DuckDB schema of each asset-key layer (dbt_project.yml's +schema per folder).
SCHEMA_OF_LAYER = {"dbt_staging": "stg", "intermediate": "intermediate", "marts": "marts",
                   "reporting": "reporting", "seeds": "reference"}


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
def outcomes_dbt_assets(
    context: AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    """Seeds, models and data tests in one `dbt build`; incremental models get the month range as vars.

    dbt unit tests check the SQL, not the data: they run in the test suite (tests/test_dbt_models.py),
    not on every production build.
    """
    months = context.partition_key_range
    dbt_vars = {"min_month": months.start, "max_month": months.end}
    args = ["build", "--vars", json.dumps(dbt_vars), "--exclude-resource-type", "unit_test"]
    prune_run_targets(Path(outcomes_dbt_project.target_path))
    events = list(dbt.cli(args, context=context).stream())
    yield from with_row_counts(context, events, duckdb.database)


def prune_run_targets(target: Path, keep: int = KEEP_RUN_TARGETS) -> None:
    """Delete all but the newest `keep` per-run folders dagster-dbt leaves under dbt/target.

    Each dbt call writes its own folder (manifest, run results, a dbt.log of several MB) and
    nothing removes them, so a deployment would fill its disk; the newest stay for debugging.
    """
    runs = sorted(target.glob(f"{outcomes_dbt_assets.op.name}-*"), key=lambda p: p.stat().st_mtime)
    for folder in runs[:-keep] if keep else runs:
        shutil.rmtree(folder, ignore_errors=True)


def with_row_counts(context: AssetExecutionContext, events: Iterable[Any], database: str) -> Iterator[Any]:
    """Add dagster/row_count to each model's and seed's materialization.

    dagster-dbt's fetch_row_counts queries while dbt still runs, but DuckDB allows one writer
    and the dbt process holds the file, so the counts are read once dbt has finished.
    """
    events = list(events)
    with duckdb.connect(database, read_only=True) as con:
        tables = set(con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall())
        counts: dict[str, int] = {}
        for event in events:
            if isinstance(event, Output):
                key = context.asset_key_for_output(event.output_name)
                table = (SCHEMA_OF_LAYER.get(key.path[0], ""), key.path[-1])
                if table in tables:  # views (stg) have no row count of their own
                    counts[event.output_name] = con.execute(
                        f'SELECT count(*) FROM "{table[0]}"."{table[1]}"').fetchone()[0]
    for event in events:
        if isinstance(event, Output) and event.output_name in counts:
            row_count = MetadataValue.int(counts[event.output_name])
            event = event.with_metadata({**event.metadata, "dagster/row_count": row_count})
        yield event
