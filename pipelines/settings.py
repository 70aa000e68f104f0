"""Where things live: landing, warehouse and reports folders, from flags, environment or defaults.

Precedence: explicit argument (CLI flag) > environment variable > the project's own folder.
The CLI exports its flags as environment variables so the Dagster code location, which
is loaded from the environment, sees the same folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

ENV_LANDING = "OUTCOMES_LANDING"
ENV_WAREHOUSE = "OUTCOMES_WAREHOUSE"
ENV_REPORTS = "OUTCOMES_REPORTS"
ENV_FIRST_MONTH = "OUTCOMES_FIRST_MONTH"

DEFAULT_FIRST_MONTH = "2023-01"  # first month of the partition set; earlier exports need this moved


@dataclass(frozen=True)
class Settings:
    """Resolved folders for one process."""

    landing: Path
    warehouse: Path
    reports: Path

    @property
    def build_db(self) -> Path:
        """The DuckDB file the pipeline writes (one writer at a time)."""
        return self.warehouse / "build.duckdb"

    @property
    def dagster_home(self) -> Path:
        return PROJECT_ROOT / "dagster_home"


def _pick(flag: str | Path | None, env: str, default: Path) -> Path:
    value = flag if flag is not None else os.environ.get(env) or default
    return Path(value).expanduser().resolve()


def load_settings(
    landing: str | Path | None = None,
    warehouse: str | Path | None = None,
    reports: str | Path | None = None,
) -> Settings:
    """Resolve the folders; nothing is created here."""
    return Settings(
        landing=_pick(landing, ENV_LANDING, PROJECT_ROOT / "landing"),
        warehouse=_pick(warehouse, ENV_WAREHOUSE, PROJECT_ROOT / "warehouse"),
        reports=_pick(reports, ENV_REPORTS, PROJECT_ROOT / "reports"),
    )


def export_to_environment(settings: Settings) -> None:
    """Make the resolved folders visible to code loaded later (Dagster definitions, dbt)."""
    os.environ[ENV_LANDING] = str(settings.landing)
    os.environ[ENV_WAREHOUSE] = str(settings.warehouse)
    os.environ[ENV_REPORTS] = str(settings.reports)


def first_month() -> str:
    """First month of the monthly partitions (YYYY-MM)."""
    return os.environ.get(ENV_FIRST_MONTH, DEFAULT_FIRST_MONTH)
