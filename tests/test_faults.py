"""A run SIGKILLed at any stage leaves the last good published build intact, and the next run recovers.

Issue #5 promises that "a run killed during publish leaves the previous published file
intact and openable", and issue #6 asks for the same at every stage. These tests start the
real `outcomes run` as its own process group after one good build exists, watch its progress
in its Dagster instance (or, for publish, the appearance of the publish step's temporary
file) and SIGKILL the whole group, dbt included, at four points: loading raw exports,
validating them, in the middle of `dbt build`, and while the new published file is written.

The kills are cumulative on one warehouse, as crashes are in life: each killed run starts
from the debris of the one before, so it also proves that the previous kill left no stale
lock and nothing that stops a run from getting through the stages already passed. The
killed runs see one more export month than the good build, so "the published file is still
the good build" is a real check rather than a coincidence of identical inputs. The last test
lets a run finish and compares it with a clean run of the same exports in a fresh warehouse.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.publish.warehouse import PUBLISHED_NAME, _remove_stale_temporaries
from pipelines.writer_lock import LOCK_NAME, writer_lock
from tests.conftest import LATER_MONTH, TinyBuild, after_two_months
from tests.pipeline_processes import (
    DbtMartWatch,
    Place,
    PublishedBuild,
    RunWatcher,
    describe,
    group_members,
    kill_group,
    run_to_completion,
    start_run,
    wait_until,
)

HELD_BACK_MONTH = LATER_MONTH  # in the killed runs' landing folder, not in the good build's


@dataclass(frozen=True)
class Scenario:
    """One warehouse with a good build published, and a landing folder that has moved on since."""

    place: Place
    good: PublishedBuild
    logs: Path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, tiny_exports: Path,
             two_month_build: Place) -> Scenario:
    """The good build covers two months; the third arrives afterwards, for the runs that get killed."""
    root = tmp_path_factory.mktemp("faults")
    place = after_two_months(two_month_build, root, tiny_exports)
    good = PublishedBuild.read(place.published)
    assert HELD_BACK_MONTH not in good.months
    assert sorted(place.landing.glob(f"*/*_{HELD_BACK_MONTH}.*")), "the tiny network lost its third month"
    return Scenario(place, good, root)


@pytest.fixture(scope="module")
def clean(tiny_build: TinyBuild) -> PublishedBuild:
    """The same exports as the killed runs, built in one go in a fresh warehouse and instance (the
    shared tiny build)."""
    return PublishedBuild.read(tiny_build.warehouse / PUBLISHED_NAME)


@dataclass(frozen=True)
class KillPoint:
    """Where to kill a run, how to see that it got there, and what it must not have started yet."""

    name: str
    what: str
    reached: Callable[[RunWatcher, Place, int], bool]  # given the run's process id
    step: str  # the step the kill is meant to interrupt
    not_started: tuple[str, ...]  # step-key prefixes of later stages
    poll: float  # seconds between looks; the event log is a database, the temporary file a glob


DBT_MARTS = DbtMartWatch()  # remembers how far it has read each dbt log

KILL_POINTS = [
    KillPoint("ingest", "the raw load of vitals started (step raw__vitals)",
              lambda w, p, pid: "raw__vitals" in w.started_steps(), "raw__vitals",
              ("staging__", "dbt_build", "publish__"), 0.03),
    KillPoint("validation", "validation of vitals started (step staging__vitals)",
              lambda w, p, pid: "staging__vitals" in w.started_steps(), "staging__vitals",
              ("dbt_build", "publish__"), 0.03),
    KillPoint("dbt", "the dbt child process logged its first finished marts model (more to build)",
              lambda w, p, pid: DBT_MARTS(pid), "dbt_build",
              ("publish__",), 0.03),
    KillPoint("publish", "the publish step's temporary .outcomes.duckdb.<build>.tmp exists",
              lambda w, p, pid: bool(p.temporaries()), "publish__warehouse", (), 0.005),
]

# What a warehouse folder may hold after a kill: the build (with the WAL a killed writer
# leaves), the published file and the run log. A WAL beside outcomes.duckdb is not allowed:
# a reader would try to replay it into the good build. `extracts` holds the published builds'
# Parquet and CSV (a publish killed mid-way leaves its unfinished `.<build>.tmp` in there, which
# no reader lists and the next publish removes). `lake` is the staging lake dbt reads (a write killed
# mid-way leaves a hidden `.incoming-*` folder, which no reader lists and the next write removes).
EXPECTED_FILES = {"build.duckdb", "build.duckdb.wal", "outcomes.duckdb", "logs", "extracts", "lake",
                  LOCK_NAME}


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
def test_a_killed_run_leaves_the_last_good_build_published(
    point: KillPoint, scenario: Scenario, record_property: Callable[[str, object], None]
) -> None:
    """Readers must never see a half-built warehouse, whatever stage the pipeline dies in.

    The kill goes to the whole process group: a SIGKILL to `outcomes` alone would leave dbt
    writing to build.duckdb, which is not what a crash, an OOM kill or a reboot looks like.
    """
    place = scenario.place
    assert PublishedBuild.read(place.published) == scenario.good, "an earlier kill already changed it"
    output = scenario.logs / f"killed_during_{point.name}.log"
    with RunWatcher(place.home) as watcher:
        proc = start_run(place, output)
        try:
            waited = wait_until(lambda: point.reached(watcher, place, proc.pid), proc, output, point.what,
                                interval=point.poll)
            running = [describe(m) for m in group_members(proc.pid)]
        finally:
            killed = kill_group(proc)
        started, succeeded, status = watcher.started_steps(), watcher.succeeded_steps(), watcher.status()

    assert proc.returncode == -signal.SIGKILL
    assert point.step in started, f"killed before {point.step}: started {started}"
    too_late = [s for s in started if point.not_started and s.startswith(point.not_started)]
    assert not too_late, f"the kill came too late, the run had started {too_late}"
    if point.name == "dbt":
        assert "dbt" in running, f"dbt was not running when the run was killed: {running}"
    assert status != "SUCCESS", "the killed run is recorded as a success"

    # The published file is the good build, byte for byte, and opens read-only.
    after = PublishedBuild.read(place.published)
    assert after == scenario.good
    with duckdb.connect(str(place.published), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.response_rates").fetchone()[0] > 0

    leftovers = {p.name for p in place.warehouse.iterdir()} - EXPECTED_FILES
    temporaries = {p.name for p in place.temporaries()}
    if point.name == "publish":
        assert temporaries, "killed during publish, yet its temporary file is gone"
    assert leftovers == temporaries, f"unexpected files after the kill: {sorted(leftovers - temporaries)}"

    # No stale lock: DuckDB's lock died with the process. Read-only, so that the WAL recovery of
    # the build stays for the next run to do. The writer lock's file stays, its flock died too.
    duckdb.connect(str(place.build_db), read_only=True).close()
    with writer_lock(place.warehouse, "the next writer", timeout=0):
        pass

    figures = {
        "detected_after_s": round(waited, 2),
        "mid_step": point.step not in succeeded,
        "processes_killed": killed,
        "instance_status": status,
        "left_behind": sorted(leftovers),
        "build_wal_left": (place.warehouse / "build.duckdb.wal").exists(),
    }
    record_property(f"kill_{point.name}", figures)
    print(f"\nkilled during {point.name} ({point.what}): {figures}")


def test_the_next_run_completes_and_equals_a_clean_run(
    scenario: Scenario, clean: PublishedBuild, record_property: Callable[[str, object], None]
) -> None:
    """After the crashes above the next run recovers on its own: same tables as if nothing had happened.

    Compared with a clean run of the same exports in a fresh warehouse and instance: every
    published table by content (marts, reporting, reference, data_quality minus its check and
    record timestamps, meta.build_tables), not just row counts; and the killed publish's
    temporary file is gone.
    """
    place = scenario.place
    with RunWatcher(place.home) as watcher:
        run_to_completion(place, scenario.logs / "recovery.log")
        assert watcher.status() == "SUCCESS"
        statuses = [run.status.value for run in watcher.instance.get_runs()]  # newest first

    assert not place.temporaries(), "the run did not clean up after the killed publish"
    assert not (place.warehouse / "outcomes.duckdb.wal").exists()
    recovered = PublishedBuild.read(place.published)
    assert recovered.build_id != scenario.good.build_id
    assert recovered.months == clean.months
    different = sorted(name for name in recovered.tables.keys() | clean.tables.keys()
                       if recovered.tables.get(name) != clean.tables.get(name))
    assert not different, f"differs from a clean run of the same exports: {different}"
    assert any(name.startswith("marts.") for name in recovered.tables)
    assert "data_quality.file_accounting" in recovered.tables

    # Oldest first: the killed runs, then this one (the good build was made in the shared two-month
    # build's instance). The next `outcomes run` marks a run whose process is gone as failed
    # (pipelines/run.py fail_orphaned_runs), so none stays STARTED for ever.
    history = statuses[::-1]
    assert history[-1] == "SUCCESS"
    assert len(history) > 1 and set(history[:-1]) == {"FAILURE"}, history
    record_property("run_history", history)
    print(f"\nruns in the instance, oldest first: {history}")


def test_publish_removes_temporaries_of_killed_publishes_but_not_of_a_running_one(tmp_path: Path) -> None:
    """The cleanup at the start of publish must not pull the file from under a publish still writing it."""
    stale = tmp_path / f".{PUBLISHED_NAME}.killed.tmp"
    with duckdb.connect(str(stale)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    stale.with_name(stale.name + ".wal").write_bytes(b"")
    running = tmp_path / f".{PUBLISHED_NAME}.running.tmp"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print(flush=True); "
         "sys.stdin.readline()", str(running)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()  # it holds the DuckDB lock now
        _remove_stale_temporaries(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [running.name]
    finally:
        holder.communicate("\n", timeout=30)
