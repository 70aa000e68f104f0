"""The monthly report asset: the HTML and PDF of the run's newest month, from the published file.

Two editions (pipelines/publish/report/editions.py): the external one in reports/ from the
suppressed `reporting` schema, the internal one in reports/internal/ from the unsuppressed marts,
each folder with an index.html of its reports. It reads warehouse/outcomes.duckdb (read-only, one
connection per edition for the whole run, so every month comes from the same build) rather than
the build file, because the published copy is what readers see. A run over many months (a first
build, a backfill) renders only the newest month: the others are rendered on demand
(`outcomes report --month`, or the asset with the launchpad's `month`). A month whose report on
disk was made from the same inputs (a fingerprint of the data the renderer reads and of the
renderer itself) is not rendered again.
"""


import dataclasses
import hashlib
import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Config, Failure, MaterializeResult, MetadataValue, asset

from pipelines import contract
from pipelines.files import write_atomically
from pipelines.ingest.assets import OWNERS
from pipelines.partitions import run_months
from pipelines.publish.report.data import Build, ReportData, read_report_data
from pipelines.publish.report.editions import EDITIONS, EXTERNAL, Edition, report_source
from pipelines.publish.report.index import write_index
from pipelines.publish.report.pdf import pdf_pages, printer, remove_stale_temporaries
from pipelines.publish.report.render import month_name, render_html
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.redaction import values_withheld
from pipelines.resources import Folders
from pipelines.sql import connect

REPORT_KEY = AssetKey(["publish", "report"])
PUBLISHED_KEY = AssetKey(["publish", "warehouse"])


def report_paths(reports: Path, month: str, edition: Edition = EXTERNAL) -> tuple[Path, Path]:
    """reports/outcomes_<YYYY-MM>.html and .pdf (the internal edition: under reports/internal/)."""
    folder = edition.folder_in(reports)
    return folder / f"outcomes_{month}.html", folder / f"outcomes_{month}.pdf"


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
    fingerprint: str = ""
    rendered: bool = True  # False: the files on disk were made from the same inputs, kept as they are
    edition: Edition = EXTERNAL


def write_reports(published: Path, reports: Path, months: list[str],
                  log: Callable[[str], None] = lambda _message: None,
                  force: bool = True, editions: tuple[Edition, ...] = EDITIONS) -> list[RenderedReport]:
    """Render every month's HTML of each edition from one snapshot of the published file, print them
    in one browser, then rewrite each edition's index.html. Returns the reports edition by edition.

    `force=False`: a month whose report on disk was made from the same inputs (its fingerprint) is
    kept as it is, not rendered again."""
    if not published.exists():
        raise FileNotFoundError(f"no published warehouse at {published}: publish/warehouse makes it")
    # edition, month, HTML, build, seconds, fingerprint
    pages: list[tuple[Edition, str, str, Build, float, str]] = []
    done: dict[tuple[str, str], RenderedReport] = {}
    for edition in editions:
        folder = edition.folder_in(reports)
        if folder.exists():
            remove_stale_temporaries(folder)
        with report_source(published, edition) as con:
            for month in months:
                started = time.perf_counter()
                data = read_report_data(con, month, edition)
                fingerprint = report_fingerprint(data)
                html_path, pdf_path = report_paths(reports, month, edition)
                if not force and _unchanged(reports, month, fingerprint, edition):
                    pdf = pdf_path.read_bytes()
                    done[edition.name, month] = RenderedReport(
                        month, html_path, pdf_path, html_path.stat().st_size, len(pdf), pdf_pages(pdf),
                        0.0, 0.0, fingerprint, rendered=False, edition=edition)
                    log(f"{html_path}: unchanged (same inputs as when it was rendered), not rendered again")
                    continue
                text = render_html(data)
                write_atomically(html_path, text.encode("utf-8"))
                pages.append((edition, month, text, data.build, time.perf_counter() - started, fingerprint))
                log(f"{html_path}: {len(text):,} characters in {pages[-1][4]:.2f} s")
    if pages:
        with printer() as chromium:
            for edition, month, text, build, html_seconds, fingerprint in pages:
                started = time.perf_counter()
                title = f"{'Internal outcome' if edition.internal else 'Outcome'} report {month_name(month)}"
                pdf = chromium.pdf(text, footer_title=html.escape(title), build_id=build.build_id,
                                   synthetic=build.synthetic, banner=edition.banner)
                html_path, pdf_path = report_paths(reports, month, edition)
                write_atomically(pdf_path, pdf)
                write_atomically(fingerprint_path(reports, month, edition), fingerprint.encode())
                seconds = time.perf_counter() - started
                done[edition.name, month] = RenderedReport(
                    month, html_path, pdf_path, html_path.stat().st_size, len(pdf), pdf_pages(pdf),
                    html_seconds, seconds, fingerprint, edition=edition)
                log(f"{pdf_path}: {done[edition.name, month].pdf_pages} pages in {seconds:.2f} s")
    for edition in editions:
        write_index(edition.folder_in(reports), edition)
    return [done[edition.name, month] for edition in editions for month in months]


def write_report(published: Path, reports: Path, month: str,
                 log: Callable[[str], None] = lambda _message: None,
                 editions: tuple[Edition, ...] = EDITIONS) -> list[RenderedReport]:
    """One month's report in each edition, unless the one on disk was made from the same inputs."""
    return write_reports(published, reports, [month], log, force=False, editions=editions)


def _unchanged(reports: Path, month: str, fingerprint: str, edition: Edition) -> bool:
    """Both files are there and the fingerprint written after them is this one."""
    html_path, pdf_path = report_paths(reports, month, edition)
    stamp = fingerprint_path(reports, month, edition)
    return html_path.is_file() and pdf_path.is_file() and stamp.is_file() and stamp.read_text() == fingerprint


def report_fingerprint(data: ReportData) -> str:
    """sha256 of what a month's report is made of: the data the renderer reads (the build's id and
    time left out: a later build with the same cells renders the same report) and the renderer's
    own code and template."""
    digest = hashlib.sha256(_RENDERER_VERSION.encode())
    digest.update(repr(_canonical(dataclasses.replace(data, build=dataclasses.replace(
        data.build, build_id="", built_at=datetime.min)))).encode())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    """`value` with every float to 12 significant digits: DuckDB's parallel aggregates (a standard
    deviation, an interval) differ in the last bits from build to build on the same cells, and the
    report shows at most 4 digits."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple((f.name, _canonical(getattr(value, f.name))) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return tuple((k, _canonical(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    return value


def _renderer_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")) + sorted(Path(__file__).parent.glob("*.j2")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


_RENDERER_VERSION = _renderer_version()


def fingerprint_path(reports: Path, month: str, edition: Edition = EXTERNAL) -> Path:
    """reports/.outcomes_<YYYY-MM>.fingerprint: written after both files, so it names a whole pair."""
    return edition.folder_in(reports) / f".outcomes_{month}.fingerprint"


def built_months(published: Path) -> list[str]:
    """The export months the published build holds, in order: the months a report can be made for."""
    with connect(published, read_only=True) as con:
        return [m for (m,) in con.execute(
            "SELECT DISTINCT export_month FROM reporting.file_accounting ORDER BY 1").fetchall()]


class ReportConfig(Config):
    """Which month to render. Empty: the newest month of the run (or, outside a pipeline run, of the
    published build). In the UI: Materialize > Open launchpad, `month: "2025-06"`."""

    month: str | None = None


@asset(
    key=REPORT_KEY,
    deps=[PUBLISHED_KEY],
    group_name="publish",
    owners=OWNERS,
    kinds={"html", "pdf"},
    description=(
        "`reports/outcomes_<YYYY-MM>.html` and `.pdf`: the monthly outcome report of the run's newest month "
        "(a run over many months renders only the newest; any other month on demand with "
        "`outcomes report --month`, or here with the launchpad's `month`), in two editions: the external one "
        "from the published warehouse's suppressed `reporting` schema, and the internal one "
        "(`reports/internal/`, every small cell shown, 'do not distribute' on every page) from its marts; "
        "each folder has an index.html. Not rendered again while its inputs are unchanged. Headline response "
        "and remission for the cohort two months back with 95% "
        "Wilson intervals and a 12-month trend, response by infusion, score trajectories, adverse events "
        "per 100 sessions, the any-AE p-chart and its signals, sessions for review, data quality, "
        "per-site sections for sites above the suppression threshold, and methods with every definition's "
        "source. Self-contained HTML (inline CSS and SVG), printed to A4 PDF by chromium; both written "
        "atomically."
    ),
)
@values_withheld("publish/report")
def monthly_report(context: AssetExecutionContext, config: ReportConfig,
                   folders: Folders) -> MaterializeResult:
    published = folders.warehouse_path / PUBLISHED_NAME
    if not published.exists():
        raise Failure(f"no published warehouse at {published}: publish/warehouse makes it")
    if config.month is not None and not contract.MONTH_RE.fullmatch(config.month):
        raise Failure("config month: expected YYYY-MM, like 2025-06 (the value is not echoed)")
    built = built_months(published)
    ran = [m for m in run_months(context.run.tags, context.instance) if m in built]
    month = config.month or (ran[-1] if ran else (built[-1] if built else None))
    if month is None or month not in built:
        held = f"{built[0]} .. {built[-1]}" if built else "no months"
        raise Failure(f"month {month}: the published build holds {held}")
    if len(ran) > 1 and not config.month:
        context.log.info(f"a run over {len(ran)} months renders the newest ({month}); others on demand: "
                         f"`outcomes report --month {ran[0]}`")
    external, internal = write_report(published, folders.reports_path, month, log=context.log.info)
    done = external
    return MaterializeResult(metadata={
        "month": MetadataValue.text(done.month),
        "rendered": MetadataValue.bool(done.rendered),
        "fingerprint": MetadataValue.text(done.fingerprint[:16]),
        "html_path": MetadataValue.path(str(done.html_path)),
        "pdf_path": MetadataValue.path(str(done.pdf_path)),
        "html_size_bytes": MetadataValue.int(done.html_bytes),
        "pdf_size_bytes": MetadataValue.int(done.pdf_bytes),
        "pdf_pages": MetadataValue.int(done.pdf_pages),
        "html_render_seconds": MetadataValue.float(round(done.html_seconds, 3)),
        "pdf_render_seconds": MetadataValue.float(round(done.pdf_seconds, 3)),
        "render_seconds": MetadataValue.float(round(done.html_seconds + done.pdf_seconds, 3)),
        "internal_html_path": MetadataValue.path(str(internal.html_path)),
        "internal_pdf_path": MetadataValue.path(str(internal.pdf_path)),
        "internal_pdf_pages": MetadataValue.int(internal.pdf_pages),
        "internal_rendered": MetadataValue.bool(internal.rendered),
    })
