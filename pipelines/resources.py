"""Dagster resources shared by every stage: the folders and the warehouse connection."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from pipelines.settings import Settings


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
