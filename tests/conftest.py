"""Shared fixtures: every test gets its own folders, warehouse and Dagster instance."""

from __future__ import annotations

import contextlib
import fcntl
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.settings import Settings, load_settings
from pipelines.tools.synth import SynthConfig, generate
from tests.pipeline_processes import Place, run_to_completion

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


@contextlib.contextmanager
def built_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str,
               name: str) -> Iterator[tuple[Path, bool]]:
    """A folder for a session-wide build, and whether this process must build it.

    The test workers (pyproject.toml: -n 2) share one build: the first to ask builds it while
    holding a lock, the other waits and reads it (a tiny build costs minutes of a 2-core machine;
    building it twice at once would cost each worker more). A build that fails is not marked
    done, and the next worker to ask builds it again. Without workers: a folder of this session.
    """
    if worker_id == "master":  # not distributed (-n 0)
        yield tmp_path_factory.mktemp(name), True
        return
    shared = tmp_path_factory.getbasetemp().parent / name  # the session's folder, above each worker's
    with open(f"{shared}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / ".built"
        if done.exists():
            yield shared, False
            return
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir()
        yield shared, True
        done.touch()


@dataclass(frozen=True)
class TinyBuild:
    """Folders of the tiny network built once by `outcomes run`: read them, never write them."""

    landing: Path
    warehouse: Path
    reports: Path
    home: Path  # its Dagster instance
    printed: str  # what `outcomes run` printed

    @classmethod
    def under(cls, root: Path, printed: str) -> TinyBuild:
        return cls(root / "landing", root / "warehouse", root / "reports", root / "home", printed)


def build_by_cli(root: Path, exports: Path, *args: str) -> TinyBuild:
    """`outcomes run <args>` on a copy of `exports`, in folders and a Dagster instance of its own
    under `root` (the engine from the flags only)."""
    folders = TinyBuild.under(root, "")
    landing, warehouse, reports, home = folders.landing, folders.warehouse, folders.reports, folders.home
    shutil.copytree(exports, landing)
    home.mkdir()
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        for name, value in (("OUTCOMES_LANDING", landing), ("OUTCOMES_WAREHOUSE", warehouse),
                            ("OUTCOMES_REPORTS", reports), ("DAGSTER_HOME", home)):
            mp.setenv(name, str(value))
        # set (to the default) so that the context restores it: `--engine` writes os.environ itself
        mp.setenv("OUTCOMES_ENGINE", "duckdb")
        code = main(["run", *args])
    assert code == 0, printed.getvalue()[-3000:]
    return TinyBuild.under(root, printed.getvalue())


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory: pytest.TempPathFactory, tiny_exports: Path, worker_id: str) -> TinyBuild:
    """The tiny network built once per test session by a real `outcomes run`, in its own folders and
    Dagster instance. Tests that only read a built warehouse read it; tests that go on from a built
    warehouse start from a copy (`start_from`): each end-to-end run must prove something new."""
    with built_once(tmp_path_factory, worker_id, "tiny_build") as (root, build):
        if build:
            built = build_by_cli(root, tiny_exports)
            (root / "printed.txt").write_text(built.printed, encoding="utf-8")
            return built
        return TinyBuild.under(root, (root / "printed.txt").read_text(encoding="utf-8"))


def read_build(build: TinyBuild, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point this test's environment (folders, DAGSTER_HOME) at the shared build, to read it."""
    for name, value in (("OUTCOMES_LANDING", build.landing), ("OUTCOMES_WAREHOUSE", build.warehouse),
                        ("OUTCOMES_REPORTS", build.reports), ("DAGSTER_HOME", build.home)):
        monkeypatch.setenv(name, str(value))
    return load_settings(build.landing, build.warehouse, build.reports)


def start_from(build: TinyBuild, settings: Settings) -> None:
    """This test's warehouse begins as a copy of the shared build's files (its own from here on):
    the build file, the published file and the staging lake dbt reads."""
    settings.warehouse.mkdir(parents=True, exist_ok=True)
    for name in ("build.duckdb", "outcomes.duckdb"):
        shutil.copy2(build.warehouse / name, settings.warehouse / name)
    shutil.copytree(build.warehouse / "lake", settings.warehouse / "lake")


LATER_MONTH = "2025-03"  # the tiny network's last month: it arrives after the two-month build


@pytest.fixture(scope="session")
def two_month_build(tmp_path_factory: pytest.TempPathFactory, tiny_exports: Path, worker_id: str) -> Place:
    """The tiny network's first two months built by `outcomes run` in a process of its own, once per
    session: the good build the fault and reader-load tests begin from (`after_two_months`)."""
    with built_once(tmp_path_factory, worker_id, "two_months") as (root, build):
        place = Place.under(root)
        if build:
            shutil.copytree(tiny_exports, place.landing, ignore=shutil.ignore_patterns(f"*_{LATER_MONTH}.*"))
            run_to_completion(place, root / "build.log")
        return place


def after_two_months(build: Place, root: Path, tiny_exports: Path) -> Place:
    """A deployment of its own whose warehouse is a copy of the two-month build and whose landing
    folder holds all three months (the third has arrived since)."""
    place = Place.under(root)
    shutil.copytree(tiny_exports, place.landing)
    place.warehouse.mkdir(parents=True)
    for path in build.warehouse.glob("*.duckdb*"):  # the build file (and its WAL), the published file
        shutil.copy2(path, place.warehouse / path.name)
    shutil.copytree(build.warehouse / "lake", place.warehouse / "lake")  # the staging lake dbt reads
    return place


@pytest.fixture
def landing(settings: Settings, tiny_exports: Path) -> Path:
    """A private copy of the tiny network in this test's landing folder."""
    shutil.copytree(tiny_exports, settings.landing)
    return settings.landing


# Fixtures that build a warehouse end to end (a Dagster run with dbt): every test using one is `slow`,
# like the tests marked by hand that run builds themselves. `./dev test -m "not slow"` is the quick
# loop (contract, ingest, validate, GX, dbt models on hand-made data, report, CLI); `./dev test`
# runs everything, as CI does.
BUILDING_FIXTURES = frozenset({"tiny_build", "two_month_build", "free_text_build", "scenario", "clean"})


# The modules that run the most builds (minutes each on a 2-core machine), longest first: the two
# test workers (pyproject.toml: -n 2 --dist loadfile) take modules in collection order, so these
# start first and the quick modules fill in around them instead of one long module ending last.
LONGEST_MODULES = ("test_faults", "test_pipeline", "test_spark_engine", "test_incremental_builds",
                   "test_history", "test_benchmark", "test_ui_browser", "test_phi_boundary",
                   "test_concurrency", "test_reader_load", "test_dbt_models", "test_disclosure")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BUILDING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rsplit(".", 1)[-1] if item.module else "",
                                         len(LONGEST_MODULES)))
