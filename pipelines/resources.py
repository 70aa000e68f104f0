"""Dagster resources shared by every stage: the folders and the warehouse connection (one run at a time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from dagster import ConfigurableResource, Failure, InitResourceContext
from dagster_duckdb import DuckDBResource

from pipelines.ingest.discover import Discovery, discover
from pipelines.settings import Settings
from pipelines.writer_lock import LockTimeout, writer_lock


class Folders(ConfigurableResource):
    """Landing, warehouse and reports folders for this deployment: the one way an asset, sensor or
    schedule learns them (pipelines/settings.py). `delivered` is the run's one scan of the landing
    folder."""

    landing: str
    warehouse: str
    reports: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Folders:
        return cls(landing=str(settings.landing), warehouse=str(settings.warehouse),
                   reports=str(settings.reports))

    @property
    def landing_path(self) -> Path:
        return Path(self.landing)

    @property
    def warehouse_path(self) -> Path:
        return Path(self.warehouse)

    @property
    def reports_path(self) -> Path:
        return Path(self.reports)

    def delivered(self, run_id: str) -> Discovery:
        """The landing folder as this run found it: scanned once, when its first ingest step asks,
        so the three exports load from one picture of the folder (a file arriving mid-run waits for
        the next run rather than reaching one export of this run and not another)."""
        return _landing_scan(run_id, self.landing)


@lru_cache(maxsize=4)  # keyed by run: a later run (same process, same resource object) scans again
def _landing_scan(run_id: str, landing: str) -> Discovery:
    return discover(Path(landing))


class WarehouseDuckDB(DuckDBResource):
    """The build file's connection, held by one run at a time: the writer lock is taken when the
    run starts (the in-process executor sets resources up once per run) and released at its end."""

    warehouse: str

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[WarehouseDuckDB]:
        run = context.run_id or "?"
        try:
            with writer_lock(Path(self.warehouse), f"Dagster run {run[:8]}", on_wait=context.log.warning
                             if context.log else None):
                yield self
        except LockTimeout as exc:
            raise Failure(str(exc)) from None
