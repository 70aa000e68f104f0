"""The report's two editions, from the tiny network's published file (the shared build, read only).

The external edition is the suppressed one tests/test_report.py checks cell by cell; here: the
internal edition reads the marts through views that stand in for every `reporting` table, shows
the small cells the external one hides, says so on every page, and each edition has its index.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipelines.publish.report.data import read_report_data
from pipelines.publish.report.editions import EXTERNAL, INTERNAL, INTERNAL_TEXT, report_source
from pipelines.publish.report.index import render_index, report_months
from pipelines.publish.report.render import render_html
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.sql import connect
from tests.conftest import TinyBuild
from tests.test_report import COUNT_SPAN, assert_publishable

MONTH = "2025-03"  # the tiny network's newest month


@pytest.fixture(scope="module")
def published(tiny_build: TinyBuild, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("editions") / PUBLISHED_NAME
    shutil.copy(tiny_build.warehouse / PUBLISHED_NAME, copy)
    return copy


@pytest.fixture(scope="module")
def editions(published: Path) -> dict[str, str]:
    """Both editions' HTML of the newest month."""
    html = {}
    for edition in (EXTERNAL, INTERNAL):
        with report_source(published, edition) as con:
            html[edition.name] = render_html(read_report_data(con, MONTH, edition))
    return html


def _columns(con, catalog: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = ? "
            "AND table_schema = 'reporting'", [catalog]).fetchall():
        found.setdefault(table, set()).add(column)
    return found


def test_every_reporting_table_has_an_unsuppressed_stand_in(published: Path) -> None:
    """The internal edition's `reporting.<table>` exists for each published one, with at least its
    columns (the reader and template ask for them), and nothing is marked suppressed."""
    with report_source(published, INTERNAL) as con:
        external, internal = _columns(con, "pub"), _columns(con, "memory")
        assert set(external) == set(internal)
        for table, columns in external.items():
            assert columns <= internal[table], (table, columns - internal[table])
            assert con.execute(f"SELECT count(*) FROM reporting.{table} "
                               "WHERE len(suppressed_cells) > 0").fetchone() == (0,)


def test_the_internal_edition_shows_the_small_cells_the_external_one_hides(published: Path,
                                                                           editions: dict[str, str]) -> None:
    assert_publishable(editions["external"])
    assert INTERNAL_TEXT not in editions["external"]
    internal = editions["internal"]
    assert INTERNAL_TEXT in internal and "<code>marts</code>" in internal
    shown = [int(re.sub(r"[,\s]", "", m["text"])) for m in COUNT_SPAN.finditer(internal)
             if re.sub(r"[,\s]", "", m["text"]).isdigit()]
    assert any(1 <= n <= 10 for n in shown), "the tiny network has small cells: the internal edition shows"
    assert 'class="count suppressed"' not in internal
    # the network's sessions of the month, as the marts count them, on the first page
    with connect(published, read_only=True) as con:
        (sessions,) = con.execute("SELECT n_sessions FROM marts.adverse_events WHERE site_id = 'ALL' "
                                  "AND ae_term = 'any' AND month = DATE '2025-03-01'").fetchone()
    assert f'<span class="count">{sessions:,}</span>' in internal.split('id="response"')[0]


def test_the_internal_relapse_grid_agrees_with_the_published_one_where_it_is_shown(published: Path) -> None:
    """The internal grid rebuilds reporting.relapse_survival without its stopping rule: every point
    the external table shows is the same there."""
    columns = "n_at_risk, n_relapsed, n_censored, round(survival, 12), round(ci_low, 12), round(ci_high, 12)"
    with report_source(published, INTERNAL) as con:
        internal = {r[:2]: r[2:] for r in con.execute(
            f"SELECT instrument, days, {columns} FROM reporting.relapse_survival").fetchall()}
        external = {r[:2]: r[2:] for r in con.execute(
            f"SELECT instrument, days, {columns} FROM pub.reporting.relapse_survival "
            "WHERE n_at_risk IS NOT NULL").fetchall()}
    assert set(internal) >= set(external)
    assert {key: internal[key] for key in external} == external


def test_each_edition_has_its_own_index(tmp_path: Path) -> None:
    for month in ("2025-02", "2025-03"):
        for suffix in ("html", "pdf"):
            (tmp_path / f"outcomes_{month}.{suffix}").write_text("x")
    (tmp_path / "outcomes_2025-04.html").write_text("half-written: no PDF yet")
    assert report_months(tmp_path) == ["2025-03", "2025-02"]
    external = render_index(report_months(tmp_path), EXTERNAL)
    internal = render_index(report_months(tmp_path), INTERNAL)
    assert external.index("March 2025") < external.index("February 2025") and "April 2025" not in external
    assert "internal" not in external.lower() and INTERNAL_TEXT in internal
    assert re.findall(r'href="([^"]+)"', external) == [
        "outcomes_2025-03.html", "outcomes_2025-03.pdf", "outcomes_2025-02.html", "outcomes_2025-02.pdf"]
