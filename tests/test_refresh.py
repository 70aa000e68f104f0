"""Which months a dbt build refreshes (pipelines/transform/refresh.py), on a hand-made warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines.transform.refresh import (
    NO_MONTH,
    REFRESH_MONTHS_ENV,
    Refresh,
    plan_refresh,
    previous_month,
    project_sha256,
    record_refresh,
)

PROJECT = "a" * 64


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A warehouse with two of validate's staging tables (their rows cut down to what matters here)."""
    connection = duckdb.connect(str(tmp_path / "build.duckdb"))
    connection.execute("CREATE SCHEMA staging")
    for export in ("sessions", "vitals"):
        connection.execute(f"CREATE TABLE staging.{export} (session_id VARCHAR, value INTEGER, "
                           "export_month VARCHAR, line_number BIGINT)")
    yield connection
    connection.close()


def stage(con: duckdb.DuckDBPyConnection, export: str, month: str, *rows: tuple[str, int]) -> None:
    """Replace a month of an export's staged rows, as validate does."""
    con.execute(f"DELETE FROM staging.{export} WHERE export_month = ?", [month])
    for line, (session, value) in enumerate(rows, start=2):
        con.execute(f"INSERT INTO staging.{export} VALUES (?, ?, ?, ?)", [session, value, month, line])


def built(con: duckdb.DuckDBPyConnection) -> Refresh:
    """Plan a build and record it as successful, as the transform step does."""
    refresh = plan_refresh(con, PROJECT)
    record_refresh(con, refresh, "run")
    return refresh


@pytest.fixture
def three_months(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    for month in ("2025-01", "2025-02", "2025-03"):
        stage(con, "sessions", month, (f"s-{month}", 1))
        stage(con, "vitals", month, (f"s-{month}", 120), (f"s-{month}", 130))
    assert built(con).full
    return con


def test_a_warehouse_without_a_recorded_build_rebuilds_every_month(con: duckdb.DuckDBPyConnection) -> None:
    stage(con, "sessions", "2025-01", ("s1", 1))
    refresh = plan_refresh(con, PROJECT)
    assert refresh.full and refresh.months is None
    assert refresh.env() == {REFRESH_MONTHS_ENV: ""}
    assert "no earlier build recorded" in refresh.describe()


def test_nothing_changed_refreshes_no_month(three_months: duckdb.DuckDBPyConnection) -> None:
    stage(three_months, "vitals", "2025-02", ("s-2025-02", 120), ("s-2025-02", 130))  # staged again, the same
    refresh = built(three_months)
    assert refresh.months == () and not refresh.full
    assert refresh.env() == {REFRESH_MONTHS_ENV: NO_MONTH}
    assert "no staged row changed since the last build" in refresh.describe()


def test_a_new_month_refreshes_itself_and_the_month_before(three_months: duckdb.DuckDBPyConnection) -> None:
    stage(three_months, "vitals", "2025-04", ("s-2025-04", 110))
    # March too: a session on March 31 has readings after midnight, in April's vitals
    assert plan_refresh(three_months, PROJECT).months == ("2025-03", "2025-04")
    assert plan_refresh(three_months, PROJECT).env() == {REFRESH_MONTHS_ENV: "2025-03,2025-04"}


@pytest.mark.parametrize("change", ["one value", "one row fewer", "rows swapped between sessions", "emptied"])
def test_any_change_of_a_months_rows_refreshes_it(
        three_months: duckdb.DuckDBPyConnection, change: str) -> None:
    rows = {"one value": [("s-2025-02", 120), ("s-2025-02", 131)],
            "one row fewer": [("s-2025-02", 120)],
            "rows swapped between sessions": [("s-2025-02", 130), ("s-2025-02", 120)],
            "emptied": []}[change]
    stage(three_months, "vitals", "2025-02", *rows)
    assert plan_refresh(three_months, PROJECT).months == ("2025-01", "2025-02")


def test_a_failed_build_is_not_recorded_so_the_next_refreshes_its_months(
        three_months: duckdb.DuckDBPyConnection) -> None:
    stage(three_months, "sessions", "2025-04", ("s-2025-04", 1))
    assert plan_refresh(three_months, PROJECT).months == ("2025-03", "2025-04")  # then the build failed
    stage(three_months, "sessions", "2025-05", ("s-2025-05", 1))
    assert plan_refresh(three_months, PROJECT).months == ("2025-03", "2025-04", "2025-05")


def test_a_changed_dbt_project_rebuilds_every_month(three_months: duckdb.DuckDBPyConnection) -> None:
    refresh = plan_refresh(three_months, "b" * 64)
    assert refresh.full
    assert "the dbt project changed" in refresh.describe()


def test_the_project_hash_and_months() -> None:
    assert len(project_sha256()) == 64
    assert project_sha256() == project_sha256()
    assert previous_month("2025-01") == "2024-12"
    assert previous_month("2025-03") == "2025-02"
