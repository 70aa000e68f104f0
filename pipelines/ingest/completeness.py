"""Is a delivered file whole? Partial uploads are refused, not loaded (issue #13, item 2).

A sessions file cut in half used to load its first half "balanced", and the rest of the month's
vitals and questionnaires became held orphans. Three signs of a partial delivery reject the
file (the month keeps its previous version):
- a plain CSV whose last line has no line ending (an upload cut mid-line);
- a re-delivery with far fewer records than the version it would replace, or a first delivery
  far below the median of the export's previous three months (shares in settings.py; files
  with fewer than MIN_RECORDS records in the comparison are not judged by count);
- a sidecar manifest `<file name>.manifest.json`, `{"rows": N, "sha256": "<hex>"}` (the control
  file convention of file feeds), when present: the file's sha256 and record count must match.
  A matching manifest vouches for the file, so the other two signs are not applied to it: that
  is how a clinic delivers a month that really is small, or a file without a final line break.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.ingest.discover import MANIFEST_SUFFIX, LandingFile
from pipelines.ingest.header import FileRejected
from pipelines.settings import ENV_NEW_MONTH_MIN_SHARE, ENV_REDELIVERY_MIN_SHARE, share

MIN_RECORDS = 100  # counts below this (the previous version, the months' median) are not compared
EXPECTED = '{"rows": <data records>, "sha256": "<64 hex digits>"}'


@dataclass(frozen=True)
class Manifest:
    rows: int
    sha256: str


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def read_manifest(file: LandingFile) -> Manifest | None:
    """The file's sidecar manifest, or None when there is none; one clear line when it is unusable."""
    path = manifest_path(file.path)
    if not path.is_file():
        return None
    where = f"{path.name}: "
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as problem:
        raise FileRejected(f"{where}cannot be read ({type(problem).__name__}); file rejected") from None
    except json.JSONDecodeError as problem:
        raise FileRejected(f"{where}not JSON (line {problem.lineno}, column {problem.colno}); expected "
                           f"{EXPECTED}; file rejected") from None
    rows, digest = (data.get("rows"), data.get("sha256")) if isinstance(data, dict) else (None, None)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0 or not isinstance(digest, str) \
            or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
        raise FileRejected(f"{where}expected {EXPECTED}; file rejected")
    return Manifest(rows, digest.lower())


def check_manifest_digest(file: LandingFile, manifest: Manifest | None, digest: str) -> None:
    if manifest is not None and manifest.sha256 != digest:
        raise FileRejected(f"{file.path.name}: its sha256 is not the one in {manifest_path(file.path).name}: "
                           "the file is incomplete or not the one the manifest describes; file rejected")


def check_complete(con: duckdb.DuckDBPyConnection, file: LandingFile, records: int,
                   manifest: Manifest | None, pending: Mapping[str, int] | None = None) -> None:
    """Raise FileRejected when the file's `records` (data records read, malformed included) or its
    last byte say the delivery is partial; a manifest's count, when there is one, is the test.

    `pending`: month -> records of the export's files accepted earlier in the same load and not
    recorded yet (the load records a group's versions together); they count as loaded months."""
    name = file.path.name
    if manifest is not None:
        if manifest.rows != records:
            raise FileRejected(f"{name}: {records:,} records, but {manifest_path(file.path).name} says "
                               f"{manifest.rows:,}; file rejected")
        return
    again = (f"deliver it again whole, or with {manifest_path(file.path).name} ({EXPECTED}) confirming it; "
             "file rejected")
    plain_csv = not file.is_parquet and not name.endswith(".gz")  # gzip and Parquet detect their own cuts
    if records and plain_csv and not _ends_with_newline(file.path):
        raise FileRejected(f"{name}: the last line has no line ending, so the file looks cut short (a "
                           f"partial upload): {again}")
    previous = con.execute(
        "SELECT records, strftime(recorded_at, '%Y-%m-%d') FROM raw.file_versions WHERE export = ? AND "
        "export_month = ? AND is_current", [file.export, file.month]).fetchone()
    if previous is not None:
        floor = share(ENV_REDELIVERY_MIN_SHARE)
        if previous[0] >= MIN_RECORDS and records < floor * previous[0]:
            raise FileRejected(
                f"{name}: {records:,} records, {records / previous[0]:.0%} of the {previous[0]:,} of the "
                f"version it would replace (loaded {previous[1]}); below {floor:.0%} "
                f"({ENV_REDELIVERY_MIN_SHARE}) a re-delivery looks partial: {again}; the month keeps its "
                "loaded version")
        return
    loaded = dict(con.execute(
        "SELECT export_month, records FROM raw.file_versions WHERE export = ? AND is_current "
        "AND export_month < ? ORDER BY export_month DESC LIMIT 3", [file.export, file.month]).fetchall())
    loaded.update({m: n for m, n in (pending or {}).items() if m < file.month})
    recent = sorted(loaded.items(), reverse=True)[:3]  # the three latest months before this one
    if not recent:
        return
    median, months = float(statistics.median(n for _, n in recent)), len(recent)
    first, last = recent[-1][0], recent[0][0]
    floor = share(ENV_NEW_MONTH_MIN_SHARE)
    if median >= MIN_RECORDS and records < floor * median:
        span = first if months == 1 else f"{first} .. {last}"
        raise FileRejected(
            f"{name}: {records:,} records, {records / median:.0%} of the median {median:,.0f} of the "
            f"export's previous months ({span}); below {floor:.0%} ({ENV_NEW_MONTH_MIN_SHARE}) a first "
            f"delivery looks partial: {again}")


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            return True
        handle.seek(-1, 2)
        return handle.read(1) in (b"\n", b"\r")
