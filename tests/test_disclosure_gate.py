"""The publish step's disclosure gate (pipelines/publish/disclosure/gate.py) on hand-made tables.

One quarter (2025-Q1) of PCL-5 response at two sites and ALL, 40 eligible courses per site and
month. January: ALL 30 responders, S1 5 (a small cell, hidden), S2 25 (hidden as its
complement); February and March: 15 and 15, shown. A pool of S1's quarter showing 35 would give
January back (35 - 15 - 15 = 5): the gate must take the quarter's pools back to sums of shown
months and attack again, and refuse what no pool caused.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.publish.build_record import BuildRecord
from pipelines.publish.disclosure.gate import DisclosureRefused, audit_reporting
from pipelines.publish.disclosure.relations import attack_published
from pipelines.publish.warehouse import PUBLISHED_NAME, publish

# (month, site, n_met shown or None)
MONTHS = [
    ("2025-01-01", "ALL", 30), ("2025-01-01", "S1", None), ("2025-01-01", "S2", None),
    ("2025-02-01", "ALL", 30), ("2025-02-01", "S1", 15), ("2025-02-01", "S2", 15),
    ("2025-03-01", "ALL", 30), ("2025-03-01", "S1", 15), ("2025-03-01", "S2", 15),
]
# (site, n_eligible, n_met shown or None): the quarter pools as a too-generous rule released them
POOLS = [("ALL", 240, 90), ("S1", 120, 35), ("S2", 120, 55)]


def reporting(
    con: duckdb.DuckDBPyConnection, months: list[tuple] = MONTHS, pools: list[tuple] = POOLS
) -> None:
    """reporting.response_rates and reporting.response_rates_by_period with the columns dbt gives them."""
    con.execute("CREATE SCHEMA reporting")
    con.execute("""CREATE TABLE reporting.response_rates (cohort_month DATE, site_id VARCHAR,
        instrument VARCHAR, measure VARCHAR, n_eligible INTEGER, n_met INTEGER, n_missing_endpoint INTEGER,
        rate DOUBLE, ci_low DOUBLE, ci_high DOUBLE, is_provisional BOOLEAN, suppressed_cells VARCHAR[])""")
    for month, site, met in months:
        eligible = 80 if site == "ALL" else 40
        con.execute(
            "INSERT INTO reporting.response_rates VALUES (?, ?, 'PCL5', 'response', ?, ?, 0, ?, NULL, NULL, "
            "false, ?)",
            [month, site, eligible, met, None if met is None else met / eligible,
             ["n_met", "rate"] if met is None else []])
    con.execute("""CREATE TABLE reporting.response_rates_by_period (period_type VARCHAR, period_start DATE,
        period_end DATE, site_id VARCHAR, instrument VARCHAR, measure VARCHAR, n_cohort_months INTEGER,
        n_eligible INTEGER, n_met INTEGER, n_missing_endpoint INTEGER, rate DOUBLE, ci_low DOUBLE,
        ci_high DOUBLE, window_closes_on DATE, is_provisional BOOLEAN, suppressed_cells VARCHAR[])""")
    for site, eligible, met in pools:
        con.execute(
            "INSERT INTO reporting.response_rates_by_period VALUES ('quarter', '2025-01-01', '2025-03-31', "
            "?, 'PCL5', 'response', 3, ?, ?, 0, ?, NULL, NULL, '2025-06-30', false, [])",
            [site, eligible, met, None if met is None else met / eligible])


def test_the_attack_finds_the_month_a_released_pool_gives_back() -> None:
    with duckdb.connect() as con:
        reporting(con)
        found = [str(f) for f in attack_published(con)]
    assert any("response_rates.n_met[2025-01-01, S1" in f and "pinned to 5" in f for f in found), found


def test_the_gate_takes_the_quarter_back_to_sums_of_shown_months() -> None:
    with duckdb.connect() as con:
        reporting(con)
        audit = audit_reporting(con, log=lambda _: None)
        pools = dict(con.execute(
            "SELECT site_id, [n_met, rate] FROM reporting.response_rates_by_period").fetchall())
        named = dict(con.execute(
            "SELECT site_id, suppressed_cells FROM reporting.response_rates_by_period").fetchall())
        assert attack_published(con) == []
    # S1 and S2 summed a hidden January: hidden with their rates; ALL's months are all shown
    assert pools == {"ALL": [90, 90 / 240], "S1": [None, None], "S2": [None, None]}
    assert named == {"ALL": [], "S1": ["n_met", "rate"], "S2": ["n_met", "rate"]}
    assert (audit.pools_withheld, audit.rounds) == (2, 2)


def test_a_disclosure_no_pool_caused_stops_the_publish() -> None:
    lone = [(m, s, 25 if (m, s) == ("2025-01-01", "S2") else n) for m, s, n in MONTHS]  # ALL - S2 = S1
    with duckdb.connect() as con:
        reporting(con, lone, [("ALL", 240, 90), ("S1", 120, None), ("S2", 120, 55)])
        with pytest.raises(DisclosureRefused) as refused:
            audit_reporting(con, log=lambda _: None)
    message = str(refused.value)
    assert "reporting.response_rates.n_met[2025-01-01, S1, PCL5, response]" in message
    assert "pinned" not in message and " 5" not in message  # where, never what


def test_a_refused_publish_leaves_the_previous_build(tmp_path: Path) -> None:
    build, warehouse = tmp_path / "build.duckdb", tmp_path / "warehouse"
    warehouse.mkdir()
    lone = [(m, s, 25 if (m, s) == ("2025-01-01", "S2") else n) for m, s, n in MONTHS]
    with duckdb.connect(str(build)) as con:
        reporting(con, lone)
    previous = warehouse / PUBLISHED_NAME
    with duckdb.connect(str(previous)) as con:
        con.execute("CREATE TABLE marker AS SELECT 'previous build' AS build")
    before = previous.stat()
    record = BuildRecord("b-refused", datetime.now(UTC).replace(tzinfo=None), "run", ["2025-01"], False, None)
    with pytest.raises(DisclosureRefused):
        publish(build, warehouse, record, log=lambda _: None)
    after = previous.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(os.listdir(warehouse)) == [PUBLISHED_NAME]  # no temporary file left behind
