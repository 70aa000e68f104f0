"""Run an export's GX suite against `raw.<export>` in a DuckDB file, inside DuckDB.

The batch is a GX query asset over the raw table restricted to the requested months, with the
derived columns the suite needs (see `rules.derived_columns`); every metric is a SQL query
that DuckDB runs, nothing is copied into pandas. The database is opened read-only, so no helper
view is needed and nothing is written.

GX results are reduced to counts, rule ids and column names: GX result formats are set so that
no unexpected-value list is collected, and nothing else of a result leaves this module (a
failing value could be protected health information).

DuckDB shim: GX 1.24 reads query results after it has returned a pooled connection, which
empties a DuckDB cursor; every metric then comes back empty and every expectation fails with an
error hidden in `exception_info`. Listing DuckDB among the dialects whose connection GX keeps
(`_PERSISTED_CONNECTION_DIALECTS`) fixes it; `apply_duckdb_shim` does that and tests/test_gx.py
fails if GX changes underneath it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.datasource.fluent.interfaces import TestConnectionError
from great_expectations.execution_engine import sqlalchemy_execution_engine as _gx_sql_engine

from pipelines import contract
from pipelines.redaction import masked
from pipelines.sql import connection_config, q
from pipelines.validate import gx_suites
from pipelines.validate.rules import derived_columns

# Counts only: no partial unexpected list, no unexpected rows (UnexpectedRowsExpectation adds its
# rows only under COMPLETE), no index lists.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}


@dataclass(frozen=True)
class ExpectationOutcome:
    rule: str  # meta rule id
    expectation: str  # GX expectation type
    column: str | None
    success: bool
    element_count: int
    unexpected_count: int


@dataclass(frozen=True)
class SuiteOutcome:
    export: str
    months: tuple[str, ...]
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    seconds: float


class GxRunError(RuntimeError):
    """GX could not evaluate an expectation; the message names the rule, never a row value."""


class _DuckDBDialect(str):
    """Stands for the duckdb dialect in GX's dialect tuple: `str()` and `.value` are "duckdb"."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return str(self)


DUCKDB_DIALECT = _DuckDBDialect("duckdb")


def duckdb_shim_applied() -> bool:
    dialects = getattr(_gx_sql_engine, "_PERSISTED_CONNECTION_DIALECTS", None)
    return dialects is not None and "duckdb" in dialects


def apply_duckdb_shim() -> None:
    """Make GX keep one connection for DuckDB (idempotent). Fails loudly if GX changed."""
    dialects = getattr(_gx_sql_engine, "_PERSISTED_CONNECTION_DIALECTS", None)
    if not isinstance(dialects, tuple):
        raise GxRunError(
            "great_expectations changed: sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS "
            "is gone; re-check the DuckDB shim in pipelines/validate/gx_runner.py"
        )
    if "duckdb" not in dialects:
        _gx_sql_engine._PERSISTED_CONNECTION_DIALECTS = (*dialects, DUCKDB_DIALECT)


def batch_query(export_name: str, months: Sequence[str], now: datetime) -> str:
    """The SELECT behind the GX query asset: raw rows of the months, the derived columns, and over
    them one column per row rule (gx_suites.flag_columns, "now" bounding the in-future rules)."""
    exp = contract.export(export_name)
    checked = gx_suites.check_months(months)
    derived = ", ".join(f"{sql} AS {q(alias)}" for alias, sql in derived_columns(exp.name).items())
    flags = ", ".join(f"{sql} AS {q(alias)}" for alias, sql in gx_suites.flag_columns(exp.name, now).items())
    month_list = ", ".join(f"'{m}'" for m in checked)
    typed = f"SELECT *, {derived} FROM raw.{q(exp.name)} WHERE export_month IN ({month_list})"
    return f"SELECT *, {flags} FROM ({typed})" if flags else typed


def _exceptions(info: Any) -> Iterator[Mapping[str, Any]]:
    """The raised exceptions in a result's exception_info (flat, or keyed by metric)."""
    if isinstance(info, Mapping):
        if info.get("raised_exception"):
            yield info
        for value in info.values():
            if isinstance(value, Mapping):
                yield from _exceptions(value)


def _count(value: Any, rule: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GxRunError(f"GX returned no {key} for rule {rule}: the DuckDB shim may no longer work")
    return int(value)


def _outcomes(suite: gx.ExpectationSuite, result: Any) -> tuple[ExpectationOutcome, ...]:
    by_rule: dict[str, Any] = {}
    for res in result.results:
        rule = (res.expectation_config.meta or {}).get("rule")
        if not rule:
            raise GxRunError("an expectation without a meta rule id: regenerate the suites")
        raised = list(_exceptions(res.exception_info))
        if raised:
            reason = masked(str(raised[0].get("exception_message")))
            raise GxRunError(f"GX could not evaluate rule {rule}: {reason}")
        by_rule[rule] = res
    row_count_result = by_rule.get(gx_suites.ROW_COUNT_RULE)
    if row_count_result is None:
        raise GxRunError(f"the suite has no {gx_suites.ROW_COUNT_RULE} expectation")
    rows = _count(row_count_result.result.get("observed_value"), gx_suites.ROW_COUNT_RULE, "row count")
    outcomes = []
    for expectation in suite.expectations:
        rule = expectation.meta["rule"]
        res = by_rule[rule]
        data = res.result or {}
        if "unexpected_count" in data:
            element_count = _count(data.get("element_count"), rule, "element_count")
            if element_count == 0 and data.get("unexpected_count") is None:
                unexpected = 0  # GX reports no count over an empty batch
            else:
                unexpected = _count(data.get("unexpected_count"), rule, "unexpected_count")
        elif rule == gx_suites.ROW_COUNT_RULE:
            element_count, unexpected = rows, 0
        else:  # UnexpectedRowsExpectation: observed_value is the number of rows the query returns
            element_count, unexpected = rows, _count(data.get("observed_value"), rule, "observed_value")
        outcomes.append(ExpectationOutcome(
            rule=rule,
            expectation=expectation.expectation_type,
            column=expectation.meta.get("column"),
            success=bool(res.success),
            element_count=element_count,
            unexpected_count=unexpected,
        ))
    return tuple(outcomes)


def _close(datasource: Any) -> None:
    """Release GX's DuckDB connections so that a writer can open the file afterwards."""
    engine = datasource.get_execution_engine()
    connection = getattr(engine, "_connection", None)
    if connection is not None:
        connection.close()
        engine._connection = None
    engine.engine.dispose()
    datasource.get_engine().dispose()


def _validate(
    db_path: Path, export_name: str, months: tuple[str, ...], now: datetime, suite_dir: Path,
) -> tuple[gx.ExpectationSuite, Any]:
    """The stored suite and GX's raw validation result (connections already released)."""
    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no DuckDB database at {path}")
    apply_duckdb_shim()
    suite = gx_suites.load_suite(export_name, suite_dir)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = None
    try:
        try:
            datasource = context.data_sources.add_sql(
                name="warehouse",
                connection_string=f"duckdb:///{path}",
                # the pipeline's memory cap and spill folder (pipelines/sql.py): without a cap GX's
                # compound-unique and row-condition queries over 36 months of vitals peaked at 7.5 GiB
                kwargs={"connect_args": {"read_only": True, "config": connection_config(path)}},
            )
            asset = datasource.add_query_asset(
                name=f"{export_name}_months", query=batch_query(export_name, months, now)
            )
        except TestConnectionError as exc:
            raise GxRunError(
                f"cannot open {path.name} read-only: {masked(str(exc.__cause__ or exc))} (a read-write "
                "connection to the file in this process, or a writer in another, prevents it)"
            ) from None
        batch = asset.add_batch_definition_whole_table("months").get_batch()
        result = batch.validate(suite, result_format=RESULT_FORMAT)
    finally:
        if datasource is not None:
            _close(datasource)
    return suite, result


def run_suite(
    db_path: Path, export: str, months: Sequence[str], now: datetime | None = None,
    *, suite_dir: Path | None = None,
) -> SuiteOutcome:
    """Validate `raw.<export>` rows of `months` in the DuckDB file with the stored suite.

    `now` bounds the "not in the future" rules (default: the current local time). Raises
    GxRunError if GX cannot evaluate an expectation. The database is opened read-only, which
    DuckDB refuses while this same process holds a read-write connection to the file (or
    another process writes it): close the writer first. Connections are released on return.
    """
    started = time.perf_counter()
    exp = contract.export(export)
    checked = gx_suites.check_months(months)
    suite, result = _validate(
        db_path, exp.name, checked, now or datetime.now(), suite_dir or gx_suites.SUITE_DIR
    )
    outcomes = _outcomes(suite, result)
    return SuiteOutcome(
        export=exp.name,
        months=checked,
        success=all(o.success for o in outcomes),
        outcomes=outcomes,
        seconds=time.perf_counter() - started,
    )
