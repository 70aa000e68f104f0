"""The report's two editions and the tables each reads.

External (reports/outcomes_<YYYY-MM>.*): what may leave the quality team, read from the published
file's `reporting` schema, small cells suppressed. Internal (reports/internal/...): the quality
committee's own copy, every count shown, read from `marts` and `data_quality` of the same file.

The renderer reads `reporting.<table>` in both: for the internal edition an in-memory database
attaches the published file and defines each of those tables as a view over its unsuppressed
source (INTERNAL_VIEWS), with an empty `suppressed_cells`. One reader, one template: the editions
cannot drift apart in what they compute, only in what they hide.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.sql import connect, connect_in_memory, has_table, lit

INTERNAL_TEXT = "INTERNAL: contains small cells, do not distribute"


@dataclass(frozen=True)
class Edition:
    name: str  # "external" or "internal"
    folder: str  # under the reports folder: "" or "internal"
    banner: str | None  # printed at the top of every page (HTML and PDF), or none

    @property
    def internal(self) -> bool:
        return self.name == "internal"

    def folder_in(self, reports: Path) -> Path:
        return reports / self.folder if self.folder else reports


EXTERNAL = Edition("external", "", None)
INTERNAL = Edition("internal", "internal", INTERNAL_TEXT)
EDITIONS = (EXTERNAL, INTERNAL)

_NO_CELLS = "[]::VARCHAR[] AS suppressed_cells"
_FILE_COUNTS = ("rows_read", "rows_loaded", "rows_quarantined", "duplicates_collapsed", "rows_held",
                "rows_malformed")

# reporting.<table> of the internal edition: its source with nothing hidden. Most reporting tables
# are their mart with cells blanked (macros/suppress_small_cells.sql), so the mart itself stands in;
# three are built differently and are rebuilt here from what they are made of.
INTERNAL_VIEWS: dict[str, str] = {
    table: f"SELECT *, {_NO_CELLS} FROM pub.marts.{table}"
    for table in ("response_rates", "response_by_infusion", "score_trajectories", "adverse_events",
                  "ae_control_chart", "safety_signal_counts", "quality_measures", "sustained_response",
                  "response_rates_by_period", "adverse_events_by_period")
} | {
    # per export month and export, over the file versions (reporting_file_accounting.sql, unsuppressed)
    "file_accounting": (
        "SELECT export_month, export, count(*) AS n_files, "
        + ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _FILE_COUNTS)
        + f", {_NO_CELLS} FROM pub.data_quality.file_accounting GROUP BY export_month, export"
    ),
    "quarantine_reasons": (
        "SELECT export_month, export, reason, CAST(sum(n_rows) AS BIGINT) AS n_rows, "
        f"{_NO_CELLS} FROM pub.data_quality.quarantine_reasons GROUP BY export_month, export, reason"
    ),
    # the Kaplan-Meier curve on the published grid (reporting_relapse_survival.sql) without its
    # stopping rule: every grid day, with the curve's last step on or before it
    "relapse_survival": """
        WITH rules AS (
            SELECT max(value) FILTER (WHERE rule = 'relapse_survival_step_days')::INTEGER AS step,
                   max(value) FILTER (WHERE rule = 'relapse_survival_max_days')::INTEGER AS last
            FROM pub.reference.rules),
        grid AS (
            SELECT i.instrument, g.days
            FROM (SELECT DISTINCT instrument FROM pub.marts.relapse_times) AS i, rules,
                 LATERAL (SELECT unnest(range(0, rules.last + 1, rules.step)) AS days) AS g),
        counted AS (
            SELECT grid.instrument, grid.days,
                   count(*) FILTER (WHERE t.days_to_event >= grid.days) AS n_at_risk,
                   count(*) FILTER (WHERE t.has_relapsed AND t.days_to_event <= grid.days) AS n_relapsed,
                   count(*) FILTER (WHERE NOT t.has_relapsed AND t.days_to_event <= grid.days) AS n_censored
            FROM grid JOIN pub.marts.relapse_times AS t USING (instrument)
            GROUP BY grid.instrument, grid.days)
        SELECT counted.*, coalesce(step.survival, 1.0) AS survival, step.ci_low, step.ci_high, """
        + _NO_CELLS + """
        FROM counted
        LEFT JOIN LATERAL (
            SELECT c.survival, c.ci_low, c.ci_high FROM pub.marts.relapse_survival AS c
            WHERE c.instrument = counted.instrument AND c.days <= counted.days
            ORDER BY c.days DESC LIMIT 1) AS step ON true""",
}


def _internal_connection(published: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory database over the published file (attached read-only as `pub`): `reference` and
    `meta` as they are, `reporting` as the views above."""
    con = connect_in_memory(published)
    try:
        con.execute(f"ATTACH {lit(str(published))} AS pub (READ_ONLY)")
        for schema in ("reporting", "reference", "meta"):
            con.execute(f"CREATE SCHEMA {schema}")
        for schema in ("reference", "meta"):
            for (table,) in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'pub' "
                    "AND table_schema = ? ORDER BY 1", [schema]).fetchall():
                con.execute(f'CREATE VIEW {schema}."{table}" AS SELECT * FROM pub.{schema}."{table}"')
        for table, sql in INTERNAL_VIEWS.items():
            if has_table(con, "reporting", table, database="pub"):  # a build without it has neither
                con.execute(f"CREATE VIEW reporting.{table} AS {sql}")
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def report_source(published: Path, edition: Edition) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection whose `reporting`, `reference` and `meta` the report reads, per edition."""
    con = _internal_connection(published) if edition.internal else connect(published, read_only=True)
    try:
        yield con
    finally:
        con.close()
