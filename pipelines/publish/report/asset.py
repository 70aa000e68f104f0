"""The monthly report asset: one HTML and one PDF per month of the run, from the published file.

It reads warehouse/outcomes.duckdb (read-only, one connection for the whole run, so every month
comes from the same build) rather than the build file, because the published copy is what
readers see and it holds the suppressed `reporting` schema.
"""


import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, MetadataValue, asset

from pipelines.files import write_atomically
from pipelines.ingest.assets import OWNERS
from pipelines.partitions import monthly_partitions
from pipelines.publish.report.data import read_report_data
from pipelines.publish.report.pdf import pdf_pages, printer, remove_stale_temporaries
from pipelines.publish.report.render import month_name, render_html
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.redaction import values_withheld
from pipelines.resources import Folders
from pipelines.sql import connect

REPORT_KEY = AssetKey(["publish", "report"])
PUBLISHED_KEY = AssetKey(["publish", "warehouse"])


def report_paths(reports: Path, month: str) -> tuple[Path, Path]:
    """reports/outcomes_<YYYY-MM>.html and .pdf."""
    return reports / f"outcomes_{month}.html", reports / f"outcomes_{month}.pdf"


@dataclass(frozen=True)
class RenderedReport:
    month: str
    html_path: Path
    pdf_path: Path
    html_bytes: int
    pdf_bytes: int
    pdf_pages: int
    html_seconds: float
    pdf_seconds: float


def write_reports(published: Path, reports: Path, months: list[str],
                  log: Callable[[str], None] = lambda _message: None) -> list[RenderedReport]:
    """Render every month's HTML from one snapshot of the published file, then print them in one browser."""
    if not published.exists():
        raise FileNotFoundError(f"no published warehouse at {published}: publish/warehouse makes it")
    if reports.exists():
        remove_stale_temporaries(reports)
    pages: list[tuple[str, str, str, float]] = []
    with connect(published, read_only=True) as con:
        for month in months:
            started = time.perf_counter()
            data = read_report_data(con, month)
            text = render_html(data)
            html_path, _ = report_paths(reports, month)
            write_atomically(html_path, text.encode("utf-8"))
            pages.append((month, text, data.build, time.perf_counter() - started))
            log(f"{html_path}: {len(text):,} characters in {pages[-1][3]:.2f} s")
    done: list[RenderedReport] = []
    with printer() as chromium:
        for month, text, build, html_seconds in pages:
            started = time.perf_counter()
            pdf = chromium.pdf(text, footer_title=html.escape(f"Outcome report {month_name(month)}"),
                               build_id=build.build_id, synthetic=build.synthetic)
            html_path, pdf_path = report_paths(reports, month)
            write_atomically(pdf_path, pdf)
            seconds = time.perf_counter() - started
            done.append(RenderedReport(month, html_path, pdf_path, html_path.stat().st_size, len(pdf),
                                       pdf_pages(pdf), html_seconds, seconds))
            log(f"{pdf_path}: {done[-1].pdf_pages} pages in {seconds:.2f} s")
    return done


@asset(
    key=REPORT_KEY,
    deps=[PUBLISHED_KEY],
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="publish",
    owners=OWNERS,
    kinds={"html", "pdf"},
    description=(
        "`reports/outcomes_<YYYY-MM>.html` and `.pdf`: the monthly outcome report for each month of the run, "
        "rendered from the published warehouse's suppressed `reporting` schema (never the marts). "
        "Headline response and remission for the cohort two months back with 95% Wilson intervals and "
        "a 12-month trend, response by infusion, score trajectories, adverse events per 100 sessions, "
        "the any-AE p-chart and its signals, sessions for review, data quality, per-site sections for "
        "sites above the suppression threshold, and methods with every definition's source. "
        "Self-contained HTML (inline CSS and SVG), printed to A4 PDF by chromium; both written atomically."
    ),
)
@values_withheld("publish/report")
def monthly_report(context: AssetExecutionContext, folders: Folders) -> MaterializeResult:
    months = list(context.partition_keys)
    done = write_reports(folders.warehouse_path / PUBLISHED_NAME, folders.reports_path, months,
                         log=context.log.info)
    for report in done:
        context.add_asset_metadata({
            "html_path": MetadataValue.path(str(report.html_path)),
            "pdf_path": MetadataValue.path(str(report.pdf_path)),
            "html_size_bytes": MetadataValue.int(report.html_bytes),
            "pdf_size_bytes": MetadataValue.int(report.pdf_bytes),
            "pdf_pages": MetadataValue.int(report.pdf_pages),
            "html_render_seconds": MetadataValue.float(round(report.html_seconds, 3)),
            "pdf_render_seconds": MetadataValue.float(round(report.pdf_seconds, 3)),
            "render_seconds": MetadataValue.float(round(report.html_seconds + report.pdf_seconds, 3)),
        }, partition_key=report.month)
    return MaterializeResult()
