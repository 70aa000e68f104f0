"""The benchmark network: generated once per size with the project's generator, then linked into landings.

The generator plans patients over the whole period, so a 37-month network does not start
with the same 36 months as a 36-month one (checked: every file differs). The benchmark
therefore generates ONE network of N months and builds landing folders out of hard links
to its files: all N months for the full cold build, months 1..N-1 for the history, and the
last month linked in afterwards as the new delivery. Links cost no copy and leave the
generated files untouched; the network is reused while its manifest matches the config.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines import contract
from pipelines.tools.synth import SynthConfig, generate
from pipelines.tools.synth.generate import SYNTH_FOLDER


@dataclass
class Network:
    """A generated network on disk: its config, months, files and rows per export and month."""

    folder: Path
    config: SynthConfig
    months: list[str]
    files: dict[str, Path]  # "<export>/<file name>" -> path
    rows_per_file: dict[str, int]
    generated: bool = False  # False when an existing network with the same manifest was reused
    generate_seconds: float = 0.0
    bytes_per_export: dict[str, int] = field(default_factory=dict)

    def files_for(self, months: list[str]) -> list[Path]:
        """Every export file of the given months."""
        wanted = set(months)
        return [p for key, p in sorted(self.files.items()) if _month_of(key) in wanted]

    def rows(self, months: list[str], export: str | None = None) -> int:
        """Input rows (data lines) of the given months, of one export or of all three."""
        wanted = set(months)
        return sum(n for key, n in self.rows_per_file.items()
                   if _month_of(key) in wanted and (export is None or key.startswith(export + "/")))

    def to_dict(self) -> dict[str, object]:
        return {
            "folder": str(self.folder),
            "config": self.config.to_dict(),
            "months": len(self.months),
            "first_month": self.months[0],
            "last_month": self.months[-1],
            "rows": {e: self.rows(self.months, e) for e in contract.EXPORTS},
            "rows_total": self.rows(self.months),
            "bytes": dict(self.bytes_per_export),
            "generated_now": self.generated,
            "generate_seconds": round(self.generate_seconds, 2),
        }


def _month_of(key: str) -> str:
    match = contract.FILE_NAME_RE.match(key.split("/", 1)[1])
    if not match:
        raise ValueError(f"not an export file name: {key}")
    return match["month"]


def _manifest(folder: Path) -> dict | None:
    path = folder / SYNTH_FOLDER / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _reusable(folder: Path, config: SynthConfig) -> dict | None:
    """The manifest of an existing network made from this exact config with every file present."""
    manifest = _manifest(folder)
    if not manifest or manifest.get("config") != config.to_dict():
        return None
    if not all((folder / key).is_file() for key in manifest.get("files", {})):
        return None
    return manifest


def ensure_network(folder: Path, config: SynthConfig) -> Network:
    """Reuse the network in `folder` if its manifest matches `config`, else generate it afresh (timed)."""
    manifest = _reusable(folder, config)
    generated, seconds = False, 0.0
    if manifest is None:
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        generate(folder, config, progress=False)
        seconds = time.perf_counter() - started
        generated = True
        manifest = _reusable(folder, config)
        if manifest is None:
            raise RuntimeError(f"the generator left no usable manifest in {folder}")
    files = {key: folder / key for key in manifest["files"]}
    sizes: dict[str, int] = {e: 0 for e in contract.EXPORTS}
    for key, path in files.items():
        sizes[key.split("/", 1)[0]] += path.stat().st_size
    return Network(folder=folder, config=config, months=list(manifest["months"]), files=files,
                   rows_per_file={k: int(v) for k, v in manifest["files"].items()},
                   generated=generated, generate_seconds=seconds, bytes_per_export=sizes)


def link_months(network: Network, landing: Path, months: list[str]) -> list[Path]:
    """Make the months' export files appear in `landing` (hard links; copies across file systems)."""
    made = []
    for source in network.files_for(months):
        target = landing / source.parent.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
        made.append(target)
    return made


def warm_cache(paths: list[Path]) -> float:
    """Read the files once so the floor and the builds all start from the page cache, not the disk
    (a reused network may have been evicted since it was generated); returns the seconds taken."""
    started = time.perf_counter()
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 22):
                pass
    return time.perf_counter() - started


def _floor_once(network: Network, months: list[str], db_path: Path) -> dict[str, object]:
    db_path.unlink(missing_ok=True)
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    per_export: dict[str, float] = {}
    rows: dict[str, int] = {}
    reader = "read_parquet" if network.config.file_format == "parquet" else "read_csv"
    con = duckdb.connect(str(db_path))
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        for export in contract.EXPORTS:
            paths = [str(p) for p in network.files_for(months) if p.parent.name == export]
            begun = time.perf_counter()
            con.execute(f"CREATE TABLE {export} AS SELECT * FROM {reader}(?)", [paths])
            per_export[export] = time.perf_counter() - begun
        con.execute("CHECKPOINT")
        total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        for export in contract.EXPORTS:
            rows[export] = int(con.execute(f"SELECT count(*) FROM {export}").fetchone()[0])
    finally:
        con.close()
    size = db_path.stat().st_size
    db_path.unlink(missing_ok=True)
    return {"seconds": total, "cpu_seconds": cpu, "per_export": per_export, "rows": rows, "bytes": size}


def measure_floor(network: Network, months: list[str], db_path: Path, repeat: int = 2) -> dict[str, object]:
    """The floor: plain DuckDB reads of the months' files into one table per export, fresh file.

    One connection and one `CREATE TABLE ... AS SELECT * FROM read_csv([...])` per export over
    all its files, then CHECKPOINT (the pipeline's tables are on disk too): the least work that
    gets the same bytes into DuckDB tables, in DuckDB's own parallel reader with its default
    type sniffing. Files come from the page cache (warmed first); best of `repeat` attempts,
    each on a fresh database file, because the floor is the denominator of a target.
    """
    warm = warm_cache(network.files_for(months))
    attempts = [_floor_once(network, months, db_path) for _ in range(max(repeat, 1))]
    best = min(attempts, key=lambda a: a["seconds"])
    total, rows = float(best["seconds"]), dict(best["rows"])  # type: ignore[arg-type]
    n_rows = sum(rows.values())
    return {
        "months": len(months),
        "first_month": months[0],
        "last_month": months[-1],
        "seconds": round(total, 3),
        "cpu_seconds": round(float(best["cpu_seconds"]), 3),  # DuckDB's threads; nothing else runs here
        "attempts_seconds": [round(float(a["seconds"]), 3) for a in attempts],
        "cache_warm_seconds": round(warm, 3),
        "seconds_per_export": {k: round(v, 3) for k, v in best["per_export"].items()},  # type: ignore[union-attr]
        "rows": rows,
        "rows_total": n_rows,
        "rows_per_second": round(n_rows / total) if total > 0 else None,
        "database_bytes": best["bytes"],
    }
