"""Small-cell suppression of the reporting schema of a real build.

Every table of `reporting`, the data-quality ones included, is suppressed by dbt
(dbt/macros/suppress_small_cells.sql); their hand-worked cases are dbt unit tests
(dbt/models/reporting/_reporting__unit_tests.yml, run by tests/test_dbt_models.py) and every
count column is checked against its mart by the data test small_cells_protected on every
build. Here: the published file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.publish.warehouse import PUBLISHED_NAME
from tests.conftest import TinyBuild
from tests.disclosure_attack import attack_published, mismatches_with_sources


def integer_columns(con: duckdb.DuckDBPyConnection, schema: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = ? "
        "AND data_type IN ('INTEGER', 'BIGINT') ORDER BY ALL", [schema]).fetchall()


def test_a_real_build_publishes_a_suppressed_reporting_schema(tiny_build: TinyBuild) -> None:
    """One real run of the tiny network (small sites, so suppression must happen): the shared build."""
    published = tiny_build.warehouse / PUBLISHED_NAME
    assert_no_small_counts(published)
    assert_no_hidden_cell_recoverable(published)
    with duckdb.connect(str(published), read_only=True) as con:  # the outsider's attack (issue #10)
        assert mismatches_with_sources(con) == []
        assert [str(f) for f in attack_published(con)] == []


def assert_no_small_counts(published: Path) -> None:
    with duckdb.connect(str(published), read_only=True) as con:
        columns = integer_columns(con, "reporting")
        tables = {t for t, _ in columns}
        assert {"response_rates", "response_by_infusion", "score_trajectories", "adverse_events",
                "ae_control_chart", "safety_signal_counts", "file_accounting", "quarantine_reasons"} <= tables
        # keys, and counts of months or files rather than of people or rows: shown whatever their size
        keys = ("infusion_number", "timepoint", "months_after_endpoint", "days", "n_files", "n_months",
                "n_cohort_months", "n_baseline_months")
        counts = [c for c in columns if c[1] not in keys]
        for table, column in counts:
            small = con.execute(f'SELECT count(*) FROM reporting.{table} WHERE "{column}" BETWEEN 1 AND 10'
                                ).fetchone()[0]
            assert small == 0, f"reporting.{table}.{column} shows {small} counts of 1-10"
        # The tiny network has small sites: suppression must actually have happened, and the
        # unsuppressed marts must still hold the small counts for the internal team.
        hidden = con.execute("SELECT count(*) FROM reporting.adverse_events WHERE len(suppressed_cells) > 0"
                             ).fetchone()[0]
        assert hidden > 0
        assert con.execute("SELECT count(*) FROM marts.adverse_events WHERE n_sessions_with_event "
                           "BETWEEN 1 AND 10").fetchone()[0] > 0


def assert_no_hidden_cell_recoverable(published: Path) -> None:
    """For every group with a shown ALL count, hidden site cells are none or several summing above 10."""
    checks = {
        "response_rates": (["cohort_month", "instrument", "measure"], ["n_eligible", "n_met"]),
        "adverse_events": (["month", "ae_term"], ["n_sessions", "n_sessions_with_event"]),
        "ae_control_chart": (["month"], ["n_sessions", "n_sessions_with_any_ae"]),
    }
    with duckdb.connect(str(published), read_only=True) as con:
        for table, (keys, counts) in checks.items():
            key_list = ", ".join(f"r.{k}" for k in keys)
            join = " AND ".join(f"r.{k} = m.{k}" for k in [*keys, "site_id"])
            for count in counts:
                bad = con.execute(f"""
                    SELECT {key_list},
                        bool_or(r.site_id = 'ALL' AND r.{count} IS NOT NULL) AS total_shown,
                        count(*) FILTER (WHERE r.site_id <> 'ALL' AND r.{count} IS NULL) AS n_hidden,
                        sum(m.{count}) FILTER (WHERE r.site_id <> 'ALL' AND r.{count} IS NULL) AS hidden_sum
                    FROM reporting.{table} r JOIN marts.{table} m ON {join}
                    GROUP BY ALL
                    HAVING total_shown AND n_hidden >= 1 AND (n_hidden = 1 OR hidden_sum <= 10)
                """).fetchall()
                assert bad == [], f"reporting.{table}.{count}: recoverable cells {bad[:3]}"
