"""Which months a dbt build refreshes: its incremental models replace those and keep the rest.

The incremental models (macros/refresh_months.sql) hold rows that belong to one month each, read
from the validated exports in `staging`. A build refreshes the months whose staged rows changed
since the last successful build, and the month before each of them: a session on a month's last
evening has readings after midnight, which arrive with the next month's vitals. Whether a month
changed is told by its rows, not by timestamps: validate re-stages every month of a run, mostly
to the same rows, and a month can change without a delivery of its own (held rows resolved by a
later month). Each export's rows per month are counted and hashed (one aggregate over `staging`,
about 20 ms per million rows here) and compared with the figures of the last build. Every month
is rebuilt when the warehouse has no record of an earlier build, or when the dbt project
(models, macros, seeds, vars) changed since: an incremental model's old months were computed by
the old code.

The record is in the build warehouse's `transform` schema (the transform step is its one writer):
`transform.refreshes`, one row per successful build, and `transform.staged_months`, the figures
that build saw. The months reach dbt through an environment variable, never through `--vars`,
which would make dbt re-parse the whole project every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb

from pipelines.contract import EXPORTS
from pipelines.partitions import listed_months
from pipelines.sql import has_table, transaction
from pipelines.transform.project import DBT_DIR, DBT_SOURCES
from pipelines.validate.lake import month_fingerprints

REFRESH_MONTHS_ENV = "OUTCOMES_REFRESH_MONTHS"  # read by macros/refresh_months.sql
NO_MONTH = "none"  # the variable's value when no month is to be refreshed
SCHEMA = "transform"  # its tables: refreshes, staged_months (named in the SQL below)

# (export, export_month) -> (rows, a hash of the rows): what the incremental models read of a month
Fingerprints = dict[tuple[str, str], tuple[int, str]]


@dataclass(frozen=True)
class Refresh:
    """What one build refreshes. `months` None: every month, with dbt's `--full-refresh`."""

    months: tuple[str, ...] | None
    reason: str
    project_sha256: str
    staged: Fingerprints = field(repr=False)

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
        return f"{len(self.months)} month(s) {listed_months(self.months)} ({self.reason})"


def project_sha256(engine: str = "duckdb") -> str:
    """One hash of the dbt project's sources and the engine it builds on: a change of any model,
    macro, seed or var changes it, and so does a build on the other engine (whose incremental
    tables were written by other builds)."""
    digest = hashlib.sha256(f"engine={engine}\0".encode())
    for name in DBT_SOURCES:
        path = DBT_DIR / name
        for file in sorted(path.rglob("*") if path.is_dir() else [path]):
            if file.is_file():
                digest.update(str(file.relative_to(DBT_DIR)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def previous_month(month: str) -> str:
    first = date(int(month[:4]), int(month[5:7]), 1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def staged_fingerprints(con: duckdb.DuckDBPyConnection) -> Fingerprints:
    """Rows and a hash of the rows (their sum of 64-bit row hashes, order-free) per export and month."""
    return {(export, month): fingerprint for export in EXPORTS
            for month, fingerprint in month_fingerprints(con, export).items()}


def plan_refresh(con: duckdb.DuckDBPyConnection, project: str) -> Refresh:
    """The refresh of the next build of the warehouse behind `con` (read only)."""
    staged = staged_fingerprints(con)
    last = con.execute("SELECT project_sha256 FROM transform.refreshes ORDER BY refreshed_at DESC LIMIT 1"
                       ).fetchone() if has_table(con, SCHEMA, "refreshes") else None
    if last is None:
        return Refresh(None, "no earlier build recorded", project, staged)
    if last[0] != project:
        return Refresh(None, "the dbt project changed since the last build", project, staged)
    before: Fingerprints = {(export, month): (rows, digest) for export, month, rows, digest in con.execute(
        "SELECT export, export_month, n_rows, rows_hash FROM transform.staged_months").fetchall()}
    months = {month for key in staged.keys() | before.keys() if staged.get(key) != before.get(key)
              for month in (key[1], previous_month(key[1]))}
    reason = "their staged rows changed since the last build, or the next month's did" if months \
        else "no staged row changed since the last build"
    return Refresh(tuple(sorted(months)), reason, project, staged)


def record_refresh(con: duckdb.DuckDBPyConnection, refresh: Refresh, run_id: str) -> None:
    """Record a successful build: the next one refreshes what changed after it."""
    with transaction(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS transform")
        con.execute("""CREATE TABLE IF NOT EXISTS transform.refreshes (
            refreshed_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL, months VARCHAR[],
            project_sha256 VARCHAR NOT NULL)""")
        con.execute("""CREATE OR REPLACE TABLE transform.staged_months (
            export VARCHAR NOT NULL, export_month VARCHAR NOT NULL, n_rows BIGINT NOT NULL,
            rows_hash VARCHAR NOT NULL)""")
        months = None if refresh.months is None else list(refresh.months)
        con.execute("INSERT INTO transform.refreshes VALUES (now()::TIMESTAMP, ?, ?, ?)",
                    [run_id, months, refresh.project_sha256])
        if refresh.staged:
            con.executemany("INSERT INTO transform.staged_months VALUES (?, ?, ?, ?)",
                            [[export, month, rows, digest] for (export, month), (rows, digest)
                             in sorted(refresh.staged.items())])
