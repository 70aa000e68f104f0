"""Reproduce a past build from the file versions the build file kept (`outcomes reproduce`).

Every build records which file version of each export month it held (meta.build_file_versions,
pipelines/publish/build_record.py), and a re-delivery or retraction keeps the rows it replaces
(raw.<export>_superseded). Reproducing a build copies exactly those versions' raw rows,
malformed lines and version records into a new, empty warehouse folder, then runs the main job
there on the build's months with an empty landing folder: validate, dbt and publish run on the
same inputs as then, and the new folder's outcomes.duckdb holds the same marts and reporting
cells (meta.build.reproduces names the original build), with its reports beside it.

The same code and settings are assumed: a build made by another version of the rules, or with
other OUTCOMES_* settings, reproduces under today's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pipelines import contract
from pipelines.ingest.tables import ensure_ingest_tables
from pipelines.publish.build_record import REPRODUCES_TAG
from pipelines.run import RunSummary, run_main_job
from pipelines.settings import Settings, SettingsError
from pipelines.sql import connect, has_table, lit, transaction
from pipelines.writer_lock import writer_lock


def builds(settings: Settings, limit: int = 10) -> list[tuple[str, str, list[str]]]:
    """The build file's latest builds: (build id, built at, months), newest first."""
    if not settings.build_db.exists():
        return []
    with writer_lock(settings.warehouse, "outcomes reproduce"), \
            connect(settings.build_db, read_only=True) as con:
        if not has_table(con, "meta", "builds"):
            return []
        return [(b, f"{at:%Y-%m-%d %H:%M}", months) for b, at, months in con.execute(
            "SELECT build_id, built_at, months FROM meta.builds ORDER BY built_at DESC LIMIT ?",
            [limit]).fetchall()]


def _every_version(table: str) -> str:
    """A raw table of the source build file, current and superseded rows together, as `r`."""
    return (f"(SELECT * FROM src.raw.{table} UNION ALL "
            f"SELECT * EXCLUDE (superseded_at, superseded_by) FROM src.raw.{table}_superseded) r")


def copy_build_inputs(source: Settings, build_id: str, target: Path) -> list[str]:
    """Write the build's file versions into a new build file `target`; returns the build's months."""
    with writer_lock(source.warehouse, "outcomes reproduce"), connect(target) as con:
        con.execute(f"ATTACH {lit(str(source.build_db))} AS src (READ_ONLY)")
        row = con.execute("SELECT months FROM src.meta.builds WHERE build_id = ?",
                          [build_id]).fetchone() if has_table(con, "meta", "builds", "src") else None
        if row is None:
            raise SettingsError(f"--build {build_id}: no such build in {source.build_db} "
                                "(`outcomes reproduce --list` shows the latest)")
        ensure_ingest_tables(con)
        held = ("SEMI JOIN (SELECT export, export_month, file_sha256 FROM src.meta.build_file_versions "
                f"WHERE build_id = {lit(build_id)}) v ON v.export_month = r.export_month "
                "AND v.file_sha256 = r.file_sha256")
        with transaction(con):
            for export in contract.EXPORTS:
                con.execute(
                    f"INSERT INTO raw.{export} SELECT r.* FROM {_every_version(export)} "
                    f"{held} AND v.export = {lit(export)}")
            malformed = _every_version("malformed_lines")
            con.execute(f"INSERT INTO raw.malformed_lines SELECT r.* FROM {malformed} {held} "
                        "AND v.export = r.export")
            # each version's latest record as loaded, current again
            con.execute(
                "INSERT INTO raw.file_versions BY NAME SELECT * REPLACE (true AS is_current) FROM ("
                "SELECT r.* FROM src.raw.file_versions r "
                f"{held} AND v.export = r.export WHERE r.status = 'loaded' "
                "QUALIFY row_number() OVER (PARTITION BY r.export, r.export_month "
                "ORDER BY r.recorded_at DESC) = 1)")
        con.execute("DETACH src")
    return list(row[0])


def reproduce(source: Settings, build_id: str, out: Path, progress: TextIO | None = None) -> RunSummary:
    """Rebuild build `build_id` of `source` into the new folder `out` (warehouse, reports, empty landing)."""
    out = out.expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise SettingsError(f"--out {out}: not empty; reproduce writes a new warehouse into an empty folder")
    if out == source.warehouse.resolve():
        raise SettingsError("--out: must not be the warehouse being reproduced")
    if not source.build_db.exists():
        raise SettingsError(f"no warehouse at {source.build_db}: nothing to reproduce")
    target = Settings(landing=out / "landing", warehouse=out, reports=out / "reports")
    target.landing.mkdir(parents=True)
    months = copy_build_inputs(source, build_id, target.build_db)
    if not months:
        raise SettingsError(f"--build {build_id}: the build held no file versions")
    return run_main_job(target, months, progress, trigger="outcomes reproduce",
                        tags={REPRODUCES_TAG: build_id})
