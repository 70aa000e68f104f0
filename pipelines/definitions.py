"""The one Definitions object of the code location: nothing else wires assets and resources."""

from __future__ import annotations

from dagster import Definitions
from dagster_duckdb import DuckDBResource

from pipelines.ingest.assets import ingest_assets
from pipelines.jobs import main_job
from pipelines.resources import Folders
from pipelines.settings import load_settings
from pipelines.validate.checks import contract_checks


def build_definitions() -> Definitions:
    """Build definitions for the folders in the environment (OUTCOMES_* variables or defaults)."""
    settings = load_settings()
    return Definitions(
        assets=[*ingest_assets],
        asset_checks=[*contract_checks],
        jobs=[main_job],
        resources={
            "duckdb": DuckDBResource(database=str(settings.build_db)),
            "folders": Folders.from_settings(settings),
        },
    )


defs = build_definitions()
