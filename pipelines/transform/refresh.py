"""Which months a dbt build refreshes: its incremental models replace those and keep the rest.

The incremental models (macros/refresh_months.sql) hold rows that belong to one month each. A
build refreshes the months staged (or retracted) since the last successful build, the months
the run was launched for, and the month before each of them: a session on a month's last
evening has readings after midnight, which arrive with the next month's vitals. It rebuilds
every month when the warehouse has no record of an earlier build, or when the dbt project
(models, macros, seeds, vars) changed since: an incremental model's old months were computed
by the old code.

The record is `transform.refreshes`, one row per successful build, in the build warehouse;
the transform step is the schema's one writer. The months reach dbt through an environment
variable, never through `--vars`, which would make dbt re-parse the whole project every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb

from pipelines.sql import has_table, transaction
from pipelines.transform.project import DBT_DIR, DBT_SOURCES

REFRESH_MONTHS_ENV = "OUTCOMES_REFRESH_MONTHS"  # read by macros/refresh_months.sql
NO_MONTH = "none"  # the variable's value when no month is to be refreshed
SCHEMA = "transform"
TABLE = f"{SCHEMA}.refreshes"


@dataclass(frozen=True)
class Refresh:
    """What one build refreshes. `months` None: every month, with dbt's `--full-refresh`."""

    months: tuple[str, ...] | None
    reason: str
    project_sha256: str
    staged_through: datetime | None  # the newest staging (quarantine.file_accounting.checked_at) seen
    retracted_through: datetime | None  # the newest retraction (raw.retractions.retracted_at) seen

    @property
    def full(self) -> bool:
        return self.months is None

    def env(self) -> dict[str, str]:
        """The environment variable for dbt (empty when every month is built)."""
        if self.months is None:
            return {REFRESH_MONTHS_ENV: ""}
        return {REFRESH_MONTHS_ENV: ",".join(self.months) or NO_MONTH}

    def describe(self) -> str:
        if self.months is None:
            return f"every month ({self.reason})"
        if not self.months:
            return f"no month ({self.reason})"
        return f"{len(self.months)} month(s) {_span(self.months)} ({self.reason})"


def project_sha256() -> str:
    """One hash of the dbt project's sources: a change of any model, macro, seed or var changes it."""
    digest = hashlib.sha256()
    for name in DBT_SOURCES:
        path = DBT_DIR / name
        for file in sorted(path.rglob("*") if path.is_dir() else [path]):
            if file.is_file():
                digest.update(str(file.relative_to(DBT_DIR)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def previous_month(month: str) -> str:
    first = date(int(month[:4]), int(month[5:7]), 1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def plan_refresh(con: duckdb.DuckDBPyConnection, run_months: Iterable[str], project: str) -> Refresh:
    """The refresh of the next build of the warehouse behind `con` (read only)."""
    staged_through = _newest(con, "quarantine", "file_accounting", "checked_at")
    retracted_through = _newest(con, "raw", "retractions", "retracted_at")
    last = con.execute(
        f"SELECT project_sha256, staged_through, retracted_through FROM {TABLE} "
        "ORDER BY refreshed_at DESC LIMIT 1").fetchone() if has_table(con, SCHEMA, "refreshes") else None
    if last is None:
        return Refresh(None, "no earlier build recorded", project, staged_through, retracted_through)
    if last[0] != project:
        return Refresh(None, "the dbt project changed since the last build", project, staged_through,
                       retracted_through)
    months = set(run_months)
    months |= _months_after(con, "quarantine", "file_accounting", "checked_at", last[1])
    months |= _months_after(con, "raw", "retractions", "retracted_at", last[2])
    months |= {previous_month(month) for month in months}
    reason = "staged, retracted or asked for since the last build, and the month before each" if months \
        else "nothing staged or retracted since the last build"
    return Refresh(tuple(sorted(months)), reason, project, staged_through, retracted_through)


def record_refresh(con: duckdb.DuckDBPyConnection, refresh: Refresh, run_id: str) -> None:
    """Record a successful build: the next one refreshes what was staged after it."""
    with transaction(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        con.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            refreshed_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL, months VARCHAR[],
            project_sha256 VARCHAR NOT NULL, staged_through TIMESTAMP, retracted_through TIMESTAMP)""")
        con.execute(f"INSERT INTO {TABLE} VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?)",
                    [run_id, None if refresh.months is None else list(refresh.months), refresh.project_sha256,
                     refresh.staged_through, refresh.retracted_through])


def _newest(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> datetime | None:
    if not has_table(con, schema, table):
        return None
    return con.execute(f"SELECT max({column}) FROM {schema}.{table}").fetchone()[0]


def _months_after(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str,
                  after: datetime | None) -> set[str]:
    if not has_table(con, schema, table):
        return set()
    rows = con.execute(f"SELECT DISTINCT export_month FROM {schema}.{table} "
                       f"WHERE ?::TIMESTAMP IS NULL OR {column} > ?::TIMESTAMP", [after, after]).fetchall()
    return {month for (month,) in rows}


def _span(months: tuple[str, ...]) -> str:
    return months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}" \
        if len(months) > 3 else ", ".join(months)
