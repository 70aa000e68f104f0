"""The one Definitions object of the code location: nothing else wires assets and resources."""

from dagster import Definitions, definitions, in_process_executor
from dagster_dbt import DbtCliResource

from pipelines.ingest.assets import ingest_assets
from pipelines.ingest.sensors import landing_sensor
from pipelines.jobs import main_job
from pipelines.publish.alerts import export_freshness_sensor, run_failure_alert
from pipelines.publish.assets import published_warehouse
from pipelines.publish.report.asset import monthly_report
from pipelines.publish.schedules import monthly_outcomes_schedule
from pipelines.resources import Folders, WarehouseDuckDB
from pipelines.settings import load_settings
from pipelines.sql import connection_config
from pipelines.transform.assets import dbt_steps
from pipelines.transform.project import DBT_DIR, dbt_executable
from pipelines.validate.assets import staging_assets
from pipelines.validate.checks import gx_checks


def build_definitions() -> Definitions:
    """Build definitions for the folders of the environment (OUTCOMES_*, pipelines/settings.py), the
    same environment dbt's profiles.yml reads the warehouse from, so the two cannot disagree.

    Steps run in one process (in_process_executor): DuckDB allows one writer, and a process
    per step costs seconds each.
    """
    settings = load_settings()
    # Runs launched by the sensor or the UI open the warehouse file before anything creates it.
    settings.warehouse.mkdir(parents=True, exist_ok=True)
    return Definitions(
        assets=[*ingest_assets, *staging_assets, *dbt_steps, published_warehouse, monthly_report],
        asset_checks=[*gx_checks],
        jobs=[main_job],
        schedules=[monthly_outcomes_schedule],
        sensors=[landing_sensor, export_freshness_sensor, run_failure_alert],
        executor=in_process_executor,
        resources={
            # one run at a time writes the warehouse: the resource holds its writer lock for the run
            "duckdb": WarehouseDuckDB(database=str(settings.build_db), warehouse=str(settings.warehouse),
                                      connection_config=connection_config(settings.build_db)),
            "folders": Folders.from_settings(settings),
            "dbt": DbtCliResource(project_dir=str(DBT_DIR), profiles_dir=str(DBT_DIR),
                                  dbt_executable=dbt_executable()),
        },
    )


@definitions
def defs() -> Definitions:
    """The code location's definitions, built when a process loads it (the UI's code server, a run
    worker, `outcomes run`), so each sees the folders of its environment at that moment rather
    than those of whoever imported this module first."""
    return build_definitions()
