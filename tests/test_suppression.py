"""Small-cell suppression: hand-worked data-quality rows, and the reporting schema of a real build.

The clinical tables are suppressed by dbt (dbt/macros/suppress_small_cells.sql); their
hand-worked cases are dbt unit tests (dbt/models/reporting/_reporting__unit_tests.yml, run by
tests/test_dbt_models.py) and every count column is checked against its mart by the data test
small_cells_protected on every build. Here: the data-quality rule, and the published file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.publish.data_quality import hidden_accounting_cells
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.settings import Settings
from tests.disclosure_attack import attack_published, mismatches_with_sources


def accounting(read: int, loaded: int, quarantined: int, collapsed: int, held: int = 0,
               malformed: int = 0, files: int = 11) -> dict[str, int]:
    assert read == loaded + quarantined + collapsed, "hand-made rows must balance"
    return {"n_files": files, "rows_read": read, "rows_loaded": loaded, "rows_quarantined": quarantined,
            "duplicates_collapsed": collapsed, "rows_held": held, "rows_malformed": malformed}


@pytest.mark.parametrize(("row", "hidden"), [
    # nothing small: nothing hidden (zeros are shown)
    (accounting(500, 480, 20, 0), set()),
    # 3 quarantined would be 500 - 480 - 17: the smallest other part above 10 (17) goes too
    (accounting(500, 480, 3, 17), {"rows_quarantined", "duplicates_collapsed"}),
    # 3 quarantined, nothing collapsed: the only other part is loaded (497)
    (accounting(500, 497, 3, 0), {"rows_quarantined", "rows_loaded"}),
    # two small parts summing to 7 would still be a small cell: hide the loaded rows too
    (accounting(500, 493, 4, 3), {"rows_quarantined", "duplicates_collapsed", "rows_loaded"}),
    # two small parts summing to 20: they cannot be told apart, no complement needed
    (accounting(520, 500, 10, 10), {"rows_quarantined", "duplicates_collapsed"}),
    # a small file: everything non-zero is small, the total included (one file is a small count too)
    (accounting(8, 6, 2, 0, files=1), {"n_files", "rows_read", "rows_loaded", "rows_quarantined"}),
    # 25 quarantined of which 20 held: the 5 not held would be derivable, so held is hidden
    (accounting(525, 500, 25, 0, held=20), {"rows_held"}),
    # 2 malformed lines: small on its own
    (accounting(525, 500, 25, 0, malformed=2), {"rows_malformed"}),
])
def test_data_quality_cells_hidden(row: dict[str, int], hidden: set[str]) -> None:
    assert hidden_accounting_cells(row) == hidden


def integer_columns(con: duckdb.DuckDBPyConnection, schema: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = ? "
        "AND data_type IN ('INTEGER', 'BIGINT') ORDER BY ALL", [schema]).fetchall()


def test_a_real_build_publishes_a_suppressed_reporting_schema(settings: Settings, landing: Path) -> None:
    """One real run of the tiny network (small sites, so suppression must happen)."""
    assert main(["run"]) == 0
    published = settings.warehouse / PUBLISHED_NAME
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
        counts = [c for c in columns if c[1] not in ("infusion_number", "timepoint")]
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
