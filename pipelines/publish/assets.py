"""Publish stage: the read-only warehouse for quality teams, rebuilt and swapped in after each build."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from pipelines.ingest.assets import OWNERS
from pipelines.ingest.discover import is_synthetic
from pipelines.partitions import run_months
from pipelines.publish.build_record import REPRODUCES_TAG, record_build
from pipelines.publish.disclosure.gate import DisclosureRefused
from pipelines.publish.warehouse import COPIED_SCHEMAS, PUBLISHED_NAME, publish
from pipelines.redaction import values_withheld
from pipelines.resources import Folders
from pipelines.sql import connect
from pipelines.transform.assets import dbt_steps

# Every dbt table the published file copies: nothing else (issue #11: dbt owns all after validate).
PUBLISHED_KEYS = sorted((k for step in dbt_steps for k in step.keys if k.path[0] in COPIED_SCHEMAS),
                        key=lambda k: k.to_user_string())


@asset(
    key=AssetKey(["publish", "warehouse"]),
    deps=PUBLISHED_KEYS,
    group_name="publish",
    owners=OWNERS,
    kinds={"duckdb"},
    description=(
        f"warehouse/{PUBLISHED_NAME}: the read-only copy quality teams query while pipelines run "
        "(the dbt schemas marts, reporting, reference and data_quality, and meta.build with the build "
        "id). Built as a new file, checkpointed and swapped in with an atomic rename: open readers "
        "keep their snapshot, a failed run never leaves a half-written file."
    ),
)
@values_withheld("publish/warehouse")
def published_warehouse(
    context: AssetExecutionContext, duckdb: DuckDBResource, folders: Folders
) -> MaterializeResult:
    with duckdb.get_connection() as con:  # recorded in the build file first: reproducible by its id
        record = record_build(con, str(uuid.uuid4()), datetime.now(UTC).replace(tzinfo=None), context.run_id,
                              is_synthetic(folders.landing_path), context.run.tags.get(REPRODUCES_TAG))
    absent = sorted(set(run_months(context.run.tags, context.instance)) - set(record.months))
    if absent:  # asked for, but retracted or never loaded
        context.log.warning(f"the build holds no file version for {', '.join(absent)}")
    synthetic = record.synthetic
    try:
        done = publish(Path(duckdb.database), folders.warehouse_path, record, context.log.info)
    except DisclosureRefused as refused:
        failure = Failure(description=f"publish refused: {refused}")
    else:
        failure = None
    if failure is not None:  # raised outside the except block: no traceback chain in the run log
        raise failure
    audit = done.audit
    context.log.info(f"disclosure audit: {audit.hidden_cells} hidden cells attacked, none solvable; "
                     f"{audit.pools_withheld} pooled rows withheld ({audit.seconds} s)")
    held = ", ".join(record.months) or "none"
    context.log.info(f"published {done.path} (build {done.build_id}, {done.tables} tables, months {held}"
                     + (", SYNTHETIC DEMO DATA)" if synthetic else ")"))
    with connect(done.path, read_only=True) as con:
        rows = con.execute("SELECT sum(n_rows)::BIGINT FROM meta.build_tables").fetchone()[0]
    return MaterializeResult(metadata={
        "dagster/row_count": MetadataValue.int(rows),
        "path": MetadataValue.path(str(done.path)),
        "build_id": MetadataValue.text(done.build_id),
        "tables": MetadataValue.int(done.tables),
        "size_bytes": MetadataValue.int(done.size_bytes),
        "extracts": MetadataValue.path(str(done.extracts)),
        "synthetic": MetadataValue.bool(synthetic),
        "months": MetadataValue.text(", ".join(record.months) or "none"),
        "disclosure_audit": MetadataValue.json({"hidden_cells": audit.hidden_cells,
                                                "pools_withheld": audit.pools_withheld,
                                                "rounds": audit.rounds, "seconds": audit.seconds}),
    })
