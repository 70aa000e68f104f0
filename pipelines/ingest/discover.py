"""Find export files in the landing folder: landing/<export>/<export>_<YYYY-MM>.<ext>."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines import contract

# The synthetic network generator (pipelines/tools/synth) writes its manifest here in the landing
# folder it fills. A landing folder holding it holds generated exports, not a clinic's, and
# every build made from it is marked synthetic (meta.build, run summary, report banner).
SYNTHETIC_MANIFEST = Path("_synth") / "manifest.json"
MANIFEST_SUFFIX = ".manifest.json"  # a delivery's sidecar manifest: <file name>.manifest.json


def is_synthetic(landing: Path) -> bool:
    """Whether the landing folder holds exports written by the synthetic network generator."""
    return (landing / SYNTHETIC_MANIFEST).is_file()


@dataclass(frozen=True)
class LandingFile:
    """One delivered export month."""

    export: str
    month: str  # YYYY-MM
    path: Path

    @property
    def is_parquet(self) -> bool:
        return self.path.name.endswith(".parquet")


def header_place(file_name: str) -> str:
    """Where a file's column names are, for messages: a CSV's line 1, a Parquet file's schema."""
    return "Parquet schema" if file_name.endswith(".parquet") else "line 1"


def row_place(file_name: str, line: int) -> str:
    """A record's place for messages: `line_number` counts the header as line 1, a Parquet file has
    rows (the first is row 1) and no lines."""
    return f"row {line - 1}" if file_name.endswith(".parquet") else f"line {line}"


@dataclass(frozen=True)
class Discovery:
    files: tuple[LandingFile, ...]
    ignored: tuple[Path, ...]  # files in export folders that do not follow the naming rule
    conflicts: tuple[str, ...]  # same export month delivered in more than one format
    unreadable: tuple[str, ...] = ()  # entries named like an export file that are not files: one line each

    @property
    def months(self) -> list[str]:
        return sorted({f.month for f in self.files})

    def file_for(self, export: str, month: str) -> LandingFile | None:
        for f in self.files:
            if f.export == export and f.month == month:
                return f
        return None


def discover(landing: Path) -> Discovery:
    """List export files under `landing`; folders other than the three exports are not read."""
    files: dict[tuple[str, str], list[LandingFile]] = {}
    ignored: list[Path] = []
    unreadable: list[str] = []
    for name in contract.EXPORTS:
        folder = landing / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            match = contract.FILE_NAME_RE.match(path.name)
            if not path.is_file():
                if match:  # named like a delivery but cannot be read as one: say so, never skip it silently
                    unreadable.append(f"{path}: {_not_a_file(path)}; expected a regular file")
                continue
            if not match or match["export"] != name:
                if not _is_manifest_of_a_delivery(path):
                    ignored.append(path)
                continue
            files.setdefault((name, match["month"]), []).append(LandingFile(name, match["month"], path))
    conflicts = [
        f"{export} {month}: " + ", ".join(f.path.name for f in found)
        for (export, month), found in sorted(files.items())
        if len(found) > 1
    ]
    chosen = tuple(found[0] for _, found in sorted(files.items()) if len(found) == 1)
    return Discovery(chosen, tuple(ignored), tuple(conflicts), tuple(unreadable))


def _is_manifest_of_a_delivery(path: Path) -> bool:
    """`sessions_2025-03.csv.manifest.json` beside its file (read by ingest/completeness.py)."""
    base = path.name.removesuffix(MANIFEST_SUFFIX)
    return base != path.name and (path.parent / base).is_file()


def _not_a_file(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "a symbolic link to a file that does not exist"
    if path.is_dir():
        return "a folder"
    return "not a regular file"
