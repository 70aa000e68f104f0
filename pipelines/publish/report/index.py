"""index.html of a report folder: every month's report of that edition, newest first.

Rewritten after each render from what is on disk (an HTML with its PDF), so it lists the months
rendered on demand too and never a half-written pair. The external index never points into
reports/internal/: the external folder is the one that may be handed on.
"""

from __future__ import annotations

import re
from datetime import date
from html import escape
from pathlib import Path

from pipelines.files import write_atomically
from pipelines.publish.report.editions import Edition

REPORT_NAME = re.compile(r"outcomes_(\d{4}-\d{2})\.html")

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font-family: "Liberation Sans", Arial, sans-serif; color: #1f2a36; margin: 0 auto;
         max-width: 44rem; padding: 1rem; line-height: 1.45; }}
  h1 {{ font-size: 1.5rem; margin: 0.5rem 0 0.25rem; }}
  .banner {{ background: #1f2a36; color: #fff; font-weight: bold; text-align: center; padding: 0.4rem;
            position: sticky; top: 0; }}
  ul {{ list-style: none; padding: 0; }}
  li {{ display: flex; justify-content: space-between; gap: 1rem; padding: 0.6rem 0;
       border-bottom: 1px solid #d5dbe1; }}
  a {{ color: #0b5cad; }}
  .muted {{ color: #5b6570; font-size: 0.9rem; }}
</style>
</head>
<body>
{banner}<h1>{title}</h1>
<p class="muted">{intro}</p>
<ul>
{items}
</ul>
</body>
</html>
"""


def report_months(folder: Path) -> list[str]:
    """The months with both files of a report in `folder`, newest first."""
    if not folder.is_dir():
        return []
    months = [m.group(1) for path in folder.iterdir() if (m := REPORT_NAME.fullmatch(path.name))]
    return sorted((m for m in months if (folder / f"outcomes_{m}.pdf").is_file()), reverse=True)


def render_index(months: list[str], edition: Edition) -> str:
    if edition.internal:
        title = "Internal outcome reports"
        intro = ("Every count is shown, small cells included: for the quality committee only, not for "
                 "distribution. The external edition, with small cells suppressed, is in the folder above.")
    else:
        title = "Outcome reports"
        intro = "Monthly treatment outcome and safety reports; small counts are suppressed."
    items = "\n".join(
        f'<li><a href="outcomes_{m}.html">{escape(date.fromisoformat(m + "-01").strftime("%B %Y"))}</a>'
        f'<a href="outcomes_{m}.pdf">PDF</a></li>' for m in months) or '<li class="muted">No report yet.</li>'
    banner = f'<div class="banner" role="alert">{escape(edition.banner)}</div>\n' if edition.banner else ""
    return _PAGE.format(title=escape(title), intro=escape(intro), items=items, banner=banner)


def write_index(folder: Path, edition: Edition) -> Path:
    """Write `folder`/index.html for the reports in it."""
    path = folder / "index.html"
    write_atomically(path, render_index(report_months(folder), edition).encode("utf-8"))
    return path
