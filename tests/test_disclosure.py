"""No hidden cell of the published `reporting` schema can be recovered (issue #10).

tests/disclosure_attack.py plays the outsider: every published relation, an integer program per
hidden cell. Here it is first checked on hand-made published tables (it must find the leaks it
is meant to find), then run against real builds: a network with many small cells (5 sites, 30
patients, 13 months, dirty exports: sites with 1-3 sessions a month, every suppression rule and
the control chart's trailing pools in play). The tiny network's build is attacked in
tests/test_suppression.py, which already runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.optimize import LinearConstraint

from pipelines.cli import main
from pipelines.publish.disclosure.solver import integer_program
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.settings import Settings
from pipelines.tools.synth import SynthConfig, generate
from tests.disclosure_attack import (
    Attack,
    attack_ae_control_chart,
    attack_published,
    mismatches_with_sources,
    unmodelled_columns,
    wilson_bounds,
    wilson_preimage,
)

# Many small cells: most site-months have a handful of sessions, and a year of history.
SMALL_CELLS = SynthConfig(sites=5, patients=30, months=13, start_month="2025-01", seed=3, defect_rate=0.02)


def control_chart(
    con: duckdb.DuckDBPyConnection, rows: list[tuple], hide_p_bar_of: set[tuple] = frozenset()
) -> None:
    """reporting.ae_control_chart from (month, site, sessions, events, shown?) with the mart's p_bar."""
    con.execute("CREATE SCHEMA IF NOT EXISTS reporting")
    con.execute("CREATE TABLE cells (month DATE, site_id VARCHAR, n INTEGER, e INTEGER, shown BOOLEAN)")
    con.executemany("INSERT INTO cells VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("""
        CREATE TABLE reporting.ae_control_chart AS
        WITH pooled AS (
            SELECT c.month, c.site_id, sum(h.e) / sum(h.n) AS p_bar
            FROM cells c JOIN cells h ON h.site_id = c.site_id
                AND h.month >= c.month - INTERVAL 12 MONTH AND h.month < c.month
            GROUP BY ALL)
        SELECT c.month, c.site_id,
               CASE WHEN shown THEN n END AS n_sessions, CASE WHEN shown THEN e END AS n_sessions_with_any_ae,
               CASE WHEN shown THEN e / n END AS p, p_bar, NULL::DOUBLE AS ucl, NULL::DOUBLE AS lcl,
               NULL::BOOLEAN AS signal, []::VARCHAR[] AS suppressed_cells
        FROM cells c LEFT JOIN pooled USING (month, site_id)""")
    for month, site in hide_p_bar_of:
        con.execute(
            "UPDATE reporting.ae_control_chart SET p_bar = NULL WHERE month = ? AND site_id = ?",
            [month, site],
        )


# February: S1's 6 events (of 30 sessions) are small, S2's 15 hidden as complement. March's
# p_bar pools January and February: x p_bar of the pooled sessions minus January's events.
ISSUE_EXAMPLE = [
    ("2025-01-01", "ALL", 90, 45, True),
    ("2025-01-01", "S1", 40, 20, True),
    ("2025-01-01", "S2", 50, 25, True),
    ("2025-02-01", "ALL", 75, 21, True),
    ("2025-02-01", "S1", 30, 6, False),
    ("2025-02-01", "S2", 45, 15, False),
    ("2025-03-01", "ALL", 90, 45, True),
    ("2025-03-01", "S1", 40, 20, True),
    ("2025-03-01", "S2", 50, 25, True),
]


def solve(con: duckdb.DuckDBPyConnection) -> list[str]:
    attack = Attack()
    attack_ae_control_chart(attack, con)
    return [str(f) for f in attack.solve()]


def test_the_attack_recovers_a_month_from_a_trailing_p_bar() -> None:
    with duckdb.connect() as con:
        control_chart(con, ISSUE_EXAMPLE)
        found = solve(con)
    assert any("[2025-02-01, S1]" in f and "pinned to 6" in f for f in found), found
    assert any("[2025-02-01, S2]" in f and "pinned to 15" in f for f in found), found


def test_the_attack_finds_nothing_once_the_p_bar_is_hidden() -> None:
    with duckdb.connect() as con:
        control_chart(con, ISSUE_EXAMPLE, {("2025-03-01", "S1"), ("2025-03-01", "S2")})
        assert solve(con) == []


def test_the_attack_recovers_a_lone_hidden_site_from_the_total() -> None:
    rows = [
        ("2025-01-01", "ALL", 90, 45, True),
        ("2025-01-01", "S1", 40, 20, True),
        ("2025-01-01", "S2", 50, 25, False),
    ]
    with duckdb.connect() as con:
        control_chart(con, rows)
        found = solve(con)
    assert any("n_sessions[2025-01-01, S2]: hidden cell pinned to 50" in f for f in found), found


def test_two_hidden_sites_above_the_threshold_stay_hidden() -> None:
    rows = [
        ("2025-01-01", "ALL", 90, 45, True),
        ("2025-01-01", "S1", 8, 5, False),
        ("2025-01-01", "S2", 50, 25, False),
        ("2025-01-01", "S3", 32, 15, True),
    ]
    with duckdb.connect() as con:
        control_chart(con, rows)
        assert solve(con) == []


@pytest.mark.parametrize(("successes", "trials"), [(3, 10), (0, 10), (10, 10), (59, 172), (1, 1)])
def test_a_wilson_interval_gives_its_counts_back(successes: int, trials: int) -> None:
    low, high = wilson_bounds(np.array([successes]), np.array([trials]))
    assert wilson_preimage(float(low[0]), float(high[0])) == [(successes, trials)]


def test_a_published_number_the_attack_does_not_know_fails() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA reporting")
        con.execute(
            "CREATE TABLE reporting.safety_signal_counts (month DATE, site_id VARCHAR, reason VARCHAR, "
            "n_sessions_given INTEGER, n_sessions INTEGER, pooled_rate DOUBLE)"
        )
        con.execute("CREATE TABLE reporting.new_table (month DATE, n INTEGER)")
        assert unmodelled_columns(con) == [
            "reporting.new_table (a table)",
            "reporting.new_table.n",
            "reporting.safety_signal_counts.pooled_rate",
        ]


@pytest.mark.slow
def test_a_network_of_small_cells_publishes_nothing_recoverable(settings: Settings) -> None:
    """A real build of many small cells: no hidden cell recoverable, every shown value equals its source."""
    generate(settings.landing, SMALL_CELLS)
    assert main(["run"]) == 0
    with duckdb.connect(str(settings.warehouse / PUBLISHED_NAME), read_only=True) as con:
        hidden = con.execute(
            "SELECT count(*) FROM reporting.ae_control_chart WHERE len(suppressed_cells) > 0"
        ).fetchone()[0]
        hidden_p_bar = con.execute(
            "SELECT count(*) FROM reporting.ae_control_chart WHERE list_contains(suppressed_cells, 'p_bar')"
        ).fetchone()[0]
        assert hidden > 0 and hidden_p_bar > 0, "the network must exercise the control chart's suppression"
        assert mismatches_with_sources(con) == []
        assert [str(f) for f in attack_published(con)] == []


def test_a_feasible_program_highs_presolve_calls_infeasible_is_solved() -> None:
    """68 hidden counts of the demo network and their 86 sums and inequalities (the true counts
    satisfy every row): HiGHS's MIP presolve in scipy 1.17 calls it infeasible, which made the
    attack report "no integer solution" and the publish step refuse a sound build."""
    case = json.loads((Path(__file__).parent / "highs_presolve_case.json").read_text())
    n, rows = case["n"], case["rows"]
    matrix = np.zeros((len(rows), n))
    for k, (terms, _, _) in enumerate(rows):
        for column, coefficient in terms.items():
            matrix[k, int(column)] = coefficient
    lower = np.array([-np.inf if lo is None else lo for _, lo, _ in rows], dtype=float)
    upper = np.array([np.inf if hi is None else hi for _, _, hi in rows], dtype=float)
    result = integer_program(np.zeros(n), np.ones(n), (np.zeros(n), np.full(n, 1e7)),
                   LinearConstraint(matrix, lower, upper))
    assert result.status == 0
    found = matrix @ np.round(result.x)
    assert np.all(found >= lower - 1e-9) and np.all(found <= upper + 1e-9)
