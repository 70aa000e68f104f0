"""Incremental dbt builds end to end: a month at a time builds exactly what one run of every month
builds, and a run with nothing new changes nothing and renders nothing.

The incremental models replace only the months a build refreshes (macros/refresh_months.sql,
pipelines/transform/refresh.py); these are the two end-to-end proofs that they keep nothing stale
and lose nothing. The month logic itself is tested on hand-made data in tests/test_dbt_models.py
and tests/test_refresh.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.settings import Settings
from pipelines.transform.project import DBT_DIR
from tests.conftest import TINY, TinyBuild, start_from
from tests.pipeline_processes import content

MONTHS = [f"2025-{m:02d}" for m in range(1, TINY.months + 1)]
COMPARED_SCHEMAS = ("intermediate", "marts", "reporting")


def tables(path: Path, schemas: tuple[str, ...] = COMPARED_SCHEMAS) -> dict[str, tuple[int, str]]:
    """Every table of those schemas, by row count and a digest of its rows (order-free)."""
    return {name: digest for name, digest in content(path).items() if name.split(".")[0] in schemas}


def refreshes(settings: Settings) -> list[list[str] | None]:
    """The months each recorded dbt build refreshed, oldest first (None: every month)."""
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        return [months for (months,) in con.execute(
            "SELECT months FROM transform.refreshes ORDER BY refreshed_at").fetchall()]


def last_dbt_log(settings: Settings) -> str:
    """The dbt log of the run that made the published build (other runs, of other tests' workers,
    write beside it in dbt/target)."""
    with duckdb.connect(str(settings.warehouse / "outcomes.duckdb"), read_only=True) as con:
        run_id = con.execute("SELECT dagster_run_id FROM meta.build").fetchone()[0]
    (folder,) = DBT_DIR.joinpath("target").glob(f"dbt_build-{run_id[:7]}-*")
    # dbt rotates its log at 10 MB (dbt.log.1 holds the start of a large build's log)
    return "".join((folder / name).read_text(encoding="utf-8")
                   for name in ("dbt.log.1", "dbt.log") if (folder / name).exists())


@pytest.mark.slow
def test_one_month_per_run_builds_what_one_run_of_every_month_builds(
        tiny_build: TinyBuild, settings: Settings, landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three runs of one month each (each refreshing what it staged and the month before) end with
    the same intermediate, marts and reporting tables, cell by cell, as one run of all three; and
    dbt keeps its parse state from one month's build to the next."""
    for month in MONTHS:
        assert main(["run", "--months", month, "--quiet"]) == 0, capsys.readouterr().err
    first, *later = refreshes(settings)
    assert first is None  # the first build builds every month
    for month, refreshed in zip(MONTHS[1:], later, strict=True):
        # its month and the one before, and no month after it (validate may re-stage an earlier
        # month whose held rows the new month resolves)
        assert refreshed[-2:] == [MONTHS[MONTHS.index(month) - 1], month]
    log = last_dbt_log(settings)  # the third build: other months than the second's, the same parse inputs
    assert "Partial parsing enabled" in log
    assert "Unable to do partial parsing" not in log
    one_by_one = tables(settings.build_db)
    at_once = tables(tiny_build.warehouse / "build.duckdb")
    assert sorted(one_by_one) == sorted(at_once)
    assert [name for name in at_once if one_by_one[name] != at_once[name]] == []
    published = ("marts", "reporting")
    assert tables(settings.warehouse / "outcomes.duckdb", published) == \
        tables(tiny_build.warehouse / "outcomes.duckdb", published)


@pytest.mark.slow
def test_a_run_with_nothing_new_changes_nothing_and_renders_nothing(
        tiny_build: TinyBuild, settings: Settings, landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Running again over a complete build refreshes no month, keeps every table as it was and
    keeps the report without rendering it."""
    start_from(tiny_build, settings)
    shutil.copytree(tiny_build.reports, settings.reports, dirs_exist_ok=True)
    before = tables(settings.build_db)
    report = settings.reports / f"outcomes_{MONTHS[-1]}.pdf"
    written = report.stat().st_mtime_ns

    assert main(["run", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert refreshes(settings)[-1] == []  # this build refreshed no month
    assert tables(settings.build_db) == before
    assert report.stat().st_mtime_ns == written
    assert "unchanged: same inputs" in printed
