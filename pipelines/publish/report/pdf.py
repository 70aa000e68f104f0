"""Print report HTML to PDF in Debian's chromium, driven by Playwright (no browser download).

One browser per run prints every month: starting chromium costs about two seconds, a page
well under one. The HTML is self-contained, and chromium starts with background networking,
component updates and sync off, so printing fetches nothing.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from pipelines.publish.report.data import SYNTHETIC_TEXT

ENV_CHROMIUM = "OUTCOMES_CHROMIUM"
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Chromium's page footer: its own tiny document, styled inline (the page's CSS does not apply).
FOOTER = (
    '<div style="width:100%;font-size:7pt;color:#5b6570;padding:0 14mm;display:flex;'
    'justify-content:space-between;font-family:\'Liberation Sans\',Arial,sans-serif">'
    "<span>{title} &middot; build {build}</span>"
    '<span>page <span class="pageNumber"></span> of <span class="totalPages"></span></span></div>'
)

EMPTY_HEADER = "<span></span>"
# The banner of a build made from generated exports, at the top of every printed page.
SYNTHETIC_HEADER = (
    '<div style="width:100%;font-size:8pt;font-weight:bold;color:#ffffff;background:#D55E00;'
    'text-align:center;padding:1mm 0;margin:0 14mm;-webkit-print-color-adjust:exact;'
    'font-family:\'Liberation Sans\',Arial,sans-serif">{text}</div>'
)


# The internal edition's notice at the top of every printed page: dark, unlike the synthetic one.
BANNER_HEADER = (
    '<div style="font-size:8pt;font-weight:bold;color:#ffffff;background:#1f2a36;'
    'text-align:center;padding:1mm 0;margin:0 14mm;-webkit-print-color-adjust:exact;'
    'font-family:\'Liberation Sans\',Arial,sans-serif">{text}</div>'
)


class ChromiumMissing(RuntimeError):
    """No chromium binary to print with."""


def chromium_path() -> Path:
    """OUTCOMES_CHROMIUM, else chromium on PATH, else /usr/bin/chromium; it must exist."""
    configured = os.environ.get(ENV_CHROMIUM)
    found = configured or shutil.which("chromium") or str(DEFAULT_CHROMIUM)
    path = Path(found)
    if not path.is_file():
        where = (f"{ENV_CHROMIUM}={configured} does not exist" if configured
                 else f"no chromium on PATH or at {DEFAULT_CHROMIUM}")
        raise ChromiumMissing(
            f"cannot print the report PDF: {where}. Install Debian's chromium (apt-get install -y chromium) "
            f"or set {ENV_CHROMIUM} to a chromium binary."
        )
    return path


def pdf_pages(data: bytes) -> int:
    """Page count of a chromium-printed PDF (its page objects are not in object streams)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files left by renders that were killed (their process is gone)."""
    for path in folder.glob(".outcomes_*.tmp"):
        try:
            pid = int(path.suffixes[-2].lstrip("."))
            os.kill(pid, 0)  # raises when no such process
        except (IndexError, ValueError, ProcessLookupError):
            path.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's
            continue


class Printer:
    """An open chromium that turns HTML strings into A4 PDFs."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser

    def pdf(self, html: str, footer_title: str = "", build_id: str = "",
            synthetic: bool = False, banner: str | None = None) -> bytes:
        """A4 PDF of `html`; the synthetic-data notice and `banner` (the internal edition's) head
        every page."""
        headers = [SYNTHETIC_HEADER.format(text=SYNTHETIC_TEXT)] if synthetic else []
        if banner:
            headers.append(BANNER_HEADER.format(text=banner))
        page = self._browser.new_page()
        try:
            page.set_content(html, wait_until="load")
            return page.pdf(
                format="A4",
                print_background=True,
                prefer_css_page_size=True,
                display_header_footer=True,
                header_template=('<div style="width:100%">' + "".join(headers) + "</div>") if headers
                else EMPTY_HEADER,
                footer_template=FOOTER.format(title=footer_title, build=build_id[:8]),
            )
        finally:
            page.close()


@contextmanager
def printer() -> Iterator[Printer]:
    """Launch one chromium for a run's reports and close it afterwards."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield Printer(browser)
        finally:
            browser.close()
