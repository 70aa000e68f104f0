"""Shared fixtures: every test gets its own folders, warehouse and Dagster instance."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.settings import Settings, load_settings
from pipelines.synth import SynthConfig, generate

# Small enough for seconds, big enough for courses, boosters and every export each month.
TINY = SynthConfig(sites=2, patients=30, months=3, start_month="2025-01", seed=7)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Temporary landing/warehouse/reports folders and DAGSTER_HOME, exported to the environment."""
    for name in ("OUTCOMES_LANDING", "OUTCOMES_WAREHOUSE", "OUTCOMES_REPORTS"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    resolved = load_settings(tmp_path / "landing", tmp_path / "warehouse", tmp_path / "reports")
    for name, value in (("OUTCOMES_LANDING", resolved.landing), ("OUTCOMES_WAREHOUSE", resolved.warehouse),
                        ("OUTCOMES_REPORTS", resolved.reports)):
        monkeypatch.setenv(name, str(value))
    return resolved


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic network, generated once per test session; copy it before changing it."""
    out = tmp_path_factory.mktemp("tiny_exports")
    generate(out, TINY)
    return out


@pytest.fixture
def landing(settings: Settings, tiny_exports: Path) -> Path:
    """A private copy of the tiny network in this test's landing folder."""
    shutil.copytree(tiny_exports, settings.landing)
    return settings.landing
