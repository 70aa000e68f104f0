"""Dagster resources shared by every stage: the folders and the warehouse connection (one run at a time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource, Failure, InitResourceContext
from dagster_duckdb import DuckDBResource

from pipelines.settings import Settings
from pipelines.writer_lock import LockTimeout, writer_lock


class Folders(ConfigurableResource):
    """Landing, warehouse and reports folders for this deployment (see pipelines.settings)."""

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
