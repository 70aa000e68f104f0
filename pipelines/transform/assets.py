"""dbt models as Dagster assets (dagster-dbt): one `dbt build` step for seeds, models and their tests."""

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MetadataValue,
    Output,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
)
from dagster_duckdb import DuckDBResource
from dagster_shared.record import replace

from pipelines.files import modified_time, write_atomically
from pipelines.settings import engine, spark_tables, spark_target
from pipelines.sql import connect
from pipelines.transform.dbt_output import (
    build_failure,
    console_line,
    is_running,
    new_call_folder,
    running_call,
    scrub_target,
    scrub_unfinished,
)
from pipelines.transform.project import (
    DBT_DIR,
    DBT_STEP_PREFIX,
    dbt_var,
    ensure_manifest,
    outcomes_dbt_project,
)
from pipelines.transform.refresh import plan_refresh, project_sha256, record_refresh
from pipelines.transform.spark_tables import DUCKDB_TAG, SparkOutputError, read_back

OWNERS = ["team:clinical-analytics"]
PARTIAL_PARSE_FILE = "partial_parse.msgpack"  # dbt's parse state, reused while files and profile match
KEEP_RUN_TARGETS = 10  # dagster-dbt's per-run folders under dbt/target kept for debugging, per dbt step

# One dbt step builds the whole project: seeds, then every model with its tests, in dbt's order.
# No dbt asset is partitioned: the incremental models find the months to refresh themselves
# (pipelines/transform/refresh.py), so a run of twelve months plans one materialization of each
# model, and one dbt process starts per run rather than one per layer (each start costs seconds).
EVERYTHING = "fqn:*"


def _writers(source_props: Mapping[str, Any]) -> list[AssetKey]:
    """The Dagster assets that write a dbt source table (sources.yml meta.dagster.writers)."""
    writers = source_props.get("meta", {}).get("dagster", {}).get("writers") or []
    return [AssetKey(list(writer)) for writer in writers]


class OutcomesTranslator(DagsterDbtTranslator):
    """Asset keys are <schema>/<table>: a model's or seed's DuckDB schema and table (its alias).

    The model reporting_response_rates is the table reporting.response_rates and the asset
    reporting/response_rates; the seed ae_terms is reference/ae_terms. Names shared by two
    layers (marts/response_rates, reporting/response_rates) are told apart by the prefix.

    A source table is keyed by the Dagster asset that writes it: <source>/<table> by default
    (staging.sessions is the validate asset staging/sessions), or the writers named in
    sources.yml (quarantine.vitals is written by staging/vitals; raw.file_versions by all three
    ingest assets: every one of them becomes an upstream of the models that read it).
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            table = dbt_resource_props.get("alias") or dbt_resource_props["name"]
            return AssetKey([dbt_resource_props["schema"], table])
        if dbt_resource_props["resource_type"] == "source":
            writers = _writers(dbt_resource_props)
            if writers:
                return writers[0]
        return super().get_asset_key(dbt_resource_props)

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        parents = props.get("depends_on", {}).get("nodes", [])
        extra = [writer for parent in parents if parent.startswith("source.")
                 for writer in _writers(manifest["sources"][parent])[1:]]
        known = {dep.asset_key for dep in spec.deps}
        new = [AssetDep(key) for key in dict.fromkeys(extra) if key not in known]
        return spec.replace_attributes(deps=[*spec.deps, *new]) if new else spec

    def get_asset_check_spec(self, asset_spec: AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: Any) -> AssetCheckSpec | None:
        """dbt's tests as checks, each with a description saying what it tests (dbt's names are cut
        at 64 characters with a hash, and generic tests carry no description of their own)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        if spec is None or spec.description or not node.get("test_metadata"):
            return spec
        return replace(spec, description=describe_test(node["test_metadata"]))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """One group per dbt layer, named like its schema: reference (seeds), stg, intermediate,
        marts, reporting, data_quality; 41 nodes in one `transform` group were unreadable."""
        return str(dbt_resource_props.get("schema") or "transform")

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return OWNERS


def describe_test(metadata: Mapping[str, Any]) -> str:
    """A dbt generic test in words: "not_null: session_id", "relationships: site_id -> sites.site_id"."""
    kwargs = metadata.get("kwargs", {})
    column = kwargs.get("column_name")
    name = metadata.get("name", "test")
    if name == "relationships":
        target = str(kwargs.get("to", "")).removeprefix("ref('").removesuffix("')")
        return f"relationships: every {column} is a {target}.{kwargs.get('field')}"
    if name == "accepted_values":
        return f"accepted_values: {column} is one of {', '.join(map(str, kwargs.get('values', [])))}"
    if name == "unique_combination_of_columns":
        return f"unique: one row per {', '.join(kwargs.get('combination', []))}"
    if name == "expression_is_true":
        expression = " ".join(str(kwargs.get("expression", "")).split())
        return f"expression_is_true: {expression[:300]}"
    if name == "small_cells_protected":
        unsuppressed = str(kwargs.get("unsuppressed", "")).removeprefix("ref('").removesuffix("')")
        return (f"small_cells_protected: no {column} of 1-{dbt_var('small_cell_max')} is published, nor one "
                f"recoverable from the unsuppressed {unsuppressed} by {', '.join(kwargs.get('keys', []))}")
    return f"{name}: {column}" if column else name


# Several source tables share a writer (raw/sessions writes raw.sessions and its rows of
# raw.file_versions): their keys are equal by design.
TRANSLATOR = OutcomesTranslator(settings=DagsterDbtTranslatorSettings(
    enable_asset_checks=True, enable_duplicate_source_asset_keys=True))
MANIFEST = ensure_manifest(outcomes_dbt_project)
DBT_TARGET = Path(outcomes_dbt_project.target_path)  # dagster-dbt's per-call folders are made in it


def _dbt_build(context: AssetExecutionContext, dbt: DbtCliResource, database: str) -> Iterator[Any]:
    """`dbt build` of the step's selection (dagster-dbt passes it); unit tests excluded.

    The months the incremental models refresh reach dbt as an environment variable (plan_refresh);
    with no earlier build recorded, or a changed dbt project or engine, every month is rebuilt
    with `--full-refresh`. A successful build is recorded, so the next one refreshes what was
    staged after it. dbt unit tests check the SQL, not the data: they run in the test suite
    (tests/test_dbt_models.py), not on every production build.

    On Spark (OUTCOMES_ENGINE=spark, docs/scale-out.md) the build has three parts: dbt on the
    Spark target for every model but those tagged runs_on_duckdb, Spark's published tables read
    back into the build file (spark_tables.py), then dbt on DuckDB for the tagged ones, which
    read the quarantine and raw bookkeeping tables that stay in the build file.
    """
    on = engine()
    with connect(database, read_only=True) as con:
        refresh = plan_refresh(con, project_sha256(on))
    context.log.info(f"dbt refreshes {refresh.describe()} on {on}")
    # A test runs where all its parents are built (dbt's "buildable"): dagster-dbt reads the
    # variable when the whole step is selected, and selects tests itself when a subset is.
    os.environ["DBT_INDIRECT_SELECTION"] = "buildable"
    args = ["build", "--exclude-resource-type", "unit_test", *(["--full-refresh"] if refresh.full else [])]
    prune_run_targets(DBT_TARGET, context.op_def.name)
    scrub_unfinished(DBT_TARGET, context.op_def.name)
    with _environment(refresh.env()):  # dagster-dbt hands the process a copy of os.environ
        if on == "duckdb":
            with _dbt_call(context, database, "local") as (folder, state):
                yield from _invoke(context, dbt.cli(args, context=context, raise_on_error=False,
                                                    target_path=folder), state)
        else:
            yield from _build_on_spark(context, dbt, args, database)
    if _whole_project(context):
        with connect(database) as con:
            record_refresh(con, refresh, context.run_id)


def _build_on_spark(context: AssetExecutionContext, dbt: DbtCliResource, args: list[str],
                    database: str) -> Iterator[Any]:
    """The Spark build's three parts (see _dbt_build); each stops the step when it fails."""
    spark_args = [*args, "--target", spark_target(), "--exclude", f"tag:{DUCKDB_TAG}"]
    # Spark's own logging is off (dbt/spark/log4j2.properties): into dbt's event stream it cut
    # events, and its messages can quote row values
    with _environment({"SPARK_CONF_DIR": str(DBT_DIR / "spark")}), \
            _dbt_call(context, database, spark_target()) as (folder, state):
        yield from _invoke(context, dbt.cli(spark_args, context=context, raise_on_error=False,
                                            target_path=folder), state)
    tables = spark_tables(Path(database).parent)
    try:
        with connect(database) as con:
            read = read_back(con, tables, _manifest())
    except SparkOutputError as error:
        raise Failure(description=f"{context.op_def.name}: {error}") from None
    context.log.info(f"read back {len(read)} tables of the Spark build from {tables}")
    on_duckdb = _selected_duckdb_models(context)
    if on_duckdb:
        # dagster-dbt puts its own --select after a runtime one: this call gets its selection
        # alone, and its events are matched to the step's assets by the stream below
        with _dbt_call(context, database, "local", suffix="duckdb") as (folder, state):
            invocation = dbt.cli([*args, "--select", " ".join(on_duckdb)], manifest=MANIFEST,
                                 dagster_dbt_translator=TRANSLATOR, target_path=folder,
                                 raise_on_error=False)
            yield from _invoke(context, invocation, state)


@functools.cache
def _manifest() -> dict[str, Any]:
    """The parsed manifest the assets were defined from (read when a Spark build needs it)."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _selected_duckdb_models(context: AssetExecutionContext) -> list[str]:
    """The names of the runs_on_duckdb models this step builds (all of them, or a UI subset's)."""
    selected = set(context.selected_asset_keys)
    return sorted(node["name"] for node in _manifest()["nodes"].values()
                  if node["resource_type"] == "model" and DUCKDB_TAG in node.get("tags", [])
                  and TRANSLATOR.get_asset_key(node) in selected)


@contextlib.contextmanager
def _dbt_call(context: AssetExecutionContext, database: str, target: str,
              suffix: str | None = None) -> Iterator[tuple[Path, Path]]:
    """A dbt call's own target folder, locked while the call runs (deployments on one machine
    share dbt/target: another's step must not scrub or prune it), and seeded with the parse state
    dbt left for this warehouse and target (dagster-dbt copies the project's only when none is
    there). Yields the folder and where the call's parse state is kept for the next one."""
    folder = (DBT_TARGET / f"{context.op_def.name}-{context.run_id[:7]}-{suffix}" if suffix
              else new_call_folder(DBT_TARGET, context.op_def.name, context.run_id))
    state = parse_state(database, target)
    with running_call(folder):
        if state.exists():
            shutil.copyfile(state, folder / PARTIAL_PARSE_FILE)
        yield folder, state


def parse_state(database: str, target: str) -> Path:
    """Where dbt's parse state for one warehouse and dbt target is kept between runs. dbt reuses it
    only for the profile it was written with (the warehouse path is in it): one file per
    warehouse, so two deployments (or parallel test workers) do not undo each other's."""
    key = hashlib.sha256(f"{Path(database).resolve().parent}|{target}".encode()).hexdigest()[:16]
    return DBT_TARGET / "parse_state" / f"{key}.msgpack"


def _invoke(context: AssetExecutionContext, invocation: DbtCliInvocation, state: Path) -> Iterator[Any]:
    """One dbt call's events, as dbt finishes each node; a failed call stops the step naming
    what failed (dbt_output.build_failure), with no row value in the message."""
    yield from _redacted_stream(context, invocation)
    keep_partial_parse(invocation.target_path, state)
    if invocation.process.wait() != 0:
        results = json.loads(results_file.read_text()).get("results", []) \
            if (results_file := invocation.target_path / "run_results.json").exists() else []
        raise Failure(description=build_failure(context.op_def.name, results, invocation.process.returncode))


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the dbt process started inside, and restore them after: the
    pipeline's own process (and a test suite's) must not keep one run's months."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _whole_project(context: AssetExecutionContext) -> bool:
    """Whether the step builds every dbt asset: only such a build may be recorded as complete (a
    subset picked in the UI leaves the other incremental models behind)."""
    return set(context.selected_asset_keys) == set(context.assets_def.keys)


def _redacted_stream(context: AssetExecutionContext, invocation: DbtCliInvocation) -> Iterator[Any]:
    """dagster-dbt's asset events of a dbt call, as dbt finishes each node, with dbt's output
    reduced to what may be kept and each table's row count added to its materialization.

    Events are handed on while dbt still runs, so Dagster stores them (about 10 ms each in its
    SQLite event log) while dbt works, not after it. The row counts come from dbt itself
    (macros/log_row_count.sql): DuckDB allows one writer, and dbt holds the file until it exits.
    dagster-dbt echoes every dbt event to stdout (the step's compute log, our last_run.log):
    that echo goes to /dev/null and `console_line` prints the allowed part instead. The call's
    dbt.log and run_results.json are scrubbed when it ends, however it ends (dbt_output.py).
    """
    console = sys.stdout
    counts: dict[tuple[str, str], int] = {}
    raw_events = invocation.stream_raw_events()
    try:
        with open(os.devnull, "w") as sink:
            while True:
                with contextlib.redirect_stdout(sink):
                    event = next(raw_events, None)
                    if event is None:
                        break
                    counted = row_count_of(event.raw_event)
                    if counted is not None:
                        counts[counted[0]] = counted[1]
                        continue
                    converted = list(event.to_default_asset_events(
                        manifest=invocation.manifest, context=context, project=invocation.project,
                        dagster_dbt_translator=invocation.dagster_dbt_translator,
                        target_path=invocation.target_path))
                line = console_line(event.raw_event)
                if line is not None:
                    print(line, file=console, flush=True)
                for item in converted:
                    yield _with_row_count(context, item, counts)
    finally:
        scrub_target(invocation.target_path)


ROW_COUNT_MESSAGE = re.compile(r"^outcomes_row_count (\w+)\.(\w+) (\d+)$")  # macros/log_row_count.sql


def row_count_of(raw: Mapping[str, Any]) -> tuple[tuple[str, str], int] | None:
    """((schema, table), rows) from the row-count line of log_row_count; None for any other event."""
    info = raw.get("info", {})
    found = ROW_COUNT_MESSAGE.match(str(info.get("msg", ""))) if info.get("name") == "JinjaLogInfo" else None
    return ((found.group(1), found.group(2)), int(found.group(3))) if found else None


def _with_row_count(context: AssetExecutionContext, item: Any, counts: Mapping[tuple[str, str], int]) -> Any:
    """A model's or seed's Output with dagster/row_count (keys are <schema>/<table>); views have none."""
    if not isinstance(item, Output):
        return item
    key = context.asset_key_for_output(item.output_name)
    rows = counts.get((key.path[0], key.path[-1]))
    if rows is None:
        return item
    return item.with_metadata({**item.metadata, "dagster/row_count": MetadataValue.int(rows)})


def keep_partial_parse(invocation_target: Path, kept: Path) -> None:
    """Hand this dbt call's parse state to the next call for the same warehouse (`_dbt_call`).

    dbt re-parses the whole project (13 s against 5 s with the state, measured on a 2-core
    machine) when the file is missing or was written for another profile (another warehouse
    path), and nothing else refreshes it. Replaced atomically, so a call starting meanwhile
    copies either the old state or the new one (dbt checks it either way).
    """
    state = invocation_target / PARTIAL_PARSE_FILE
    if not state.exists():
        return
    kept.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(kept, state.read_bytes())


@dbt_assets(manifest=MANIFEST, project=outcomes_dbt_project, dagster_dbt_translator=TRANSLATOR,
            select=EVERYTHING, name=f"{DBT_STEP_PREFIX}build")
def dbt_build(
    context: AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    """Every dbt node: the seeds (clinical reference data), stg views, intermediate (incremental
    by month where rows belong to one), marts, reporting, data_quality and reference.rules (the
    numeric rules the build used), with their tests."""
    yield from _dbt_build(context, dbt, duckdb.database)


dbt_steps = [dbt_build]


def prune_run_targets(target: Path, step: str, keep: int = KEEP_RUN_TARGETS) -> None:
    """Delete all but the newest `keep` per-run folders dagster-dbt leaves under dbt/target for `step`.

    Each dbt call writes its own folder (manifest, run results, a dbt.log of several MB) and
    nothing removes them, so a deployment would fill its disk; the newest stay for debugging.
    """
    runs = sorted(target.glob(f"{step}-*"), key=modified_time)
    for folder in runs[:-keep] if keep else runs:
        if not is_running(folder):  # another deployment's live call (they share dbt/target)
            shutil.rmtree(folder, ignore_errors=True)
