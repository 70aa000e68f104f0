"""One writer at a time (issue #15, item 4): the warehouse's writer lock, a run's resource waiting on
it, and two `outcomes run`s on one warehouse, the second waiting and then succeeding."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunsFilter, asset, materialize

from pipelines.cli import main
from pipelines.resources import WarehouseDuckDB
from pipelines.settings import PROJECT_ROOT, Settings
from pipelines.writer_lock import ENV_LOCK_TIMEOUT, LOCK_NAME, LockTimeout, holder, writer_lock
from tests.pipeline_processes import hold_writer_lock


def test_the_lock_says_who_holds_it_times_out_and_dies_with_its_holder(tmp_path: Path) -> None:
    other = hold_writer_lock(tmp_path)
    try:
        assert holder(tmp_path)["pid"] == other.pid
        heard: list[str] = []
        started = time.monotonic()
        expected = rf"still being written by outcomes run \(pid {other.pid}, since "
        with pytest.raises(LockTimeout, match=expected), \
                writer_lock(tmp_path, "test", timeout=1, on_wait=heard.append):
            pass
        assert time.monotonic() - started >= 1
        assert len(heard) == 1 and "waiting up to 1 s (OUTCOMES_LOCK_TIMEOUT)" in heard[0]
    finally:
        other.send_signal(signal.SIGKILL)  # killed mid-run: the kernel drops its lock with the process
        other.wait()
    # free at once, though the lock file stays; re-entrant within a process
    with writer_lock(tmp_path, "test", timeout=0), writer_lock(tmp_path, "nested", timeout=0):
        assert holder(tmp_path)["what"] == "test"
    assert (tmp_path / LOCK_NAME).exists() and holder(tmp_path) is None


@asset
def _touches_the_warehouse(duckdb: WarehouseDuckDB) -> None:
    with duckdb.get_connection() as con:
        con.execute("CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x")


def test_a_run_waits_for_the_lock_and_fails_cleanly_when_it_times_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's `duckdb` resource takes the lock before any step, whoever launched the run."""
    resource = WarehouseDuckDB(database=str(tmp_path / "build.duckdb"), warehouse=str(tmp_path))
    monkeypatch.setenv(ENV_LOCK_TIMEOUT, "1")
    other = hold_writer_lock(tmp_path)
    try:
        result = materialize([_touches_the_warehouse], resources={"duckdb": resource}, raise_on_error=False)
        assert not result.success
        error = next(e for e in result.all_events if e.is_failure).event_specific_data.error
        causes = []
        while error is not None:  # the UI shows the chain: resource init failed, because ...
            causes.append(error.message)
            error = error.cause
        assert any(f"still being written by outcomes run (pid {other.pid}" in c for c in causes), causes
        assert not (tmp_path / "build.duckdb").exists()  # no step ran

        monkeypatch.setenv(ENV_LOCK_TIMEOUT, "60")
        assert other.stdin is not None
        threading.Timer(2, lambda: (other.stdin.write("\n"), other.stdin.flush())).start()  # done in 2 s
        started = time.monotonic()
        assert materialize([_touches_the_warehouse], resources={"duckdb": resource}).success
        assert time.monotonic() - started >= 2  # it waited for the holder, then ran
    finally:
        other.kill()


def test_the_project_instance_queues_runs_one_at_a_time(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs from the UI, the landing sensor and the schedule wait in Dagster's queue while another run
    (an `outcomes run` included: it is a STARTED run of the instance) is in progress."""
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.get() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


@pytest.mark.slow
def test_a_second_outcomes_run_waits_for_the_first_and_both_succeed(
        settings: Settings, landing: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    command = [sys.executable, "-m", "pipelines.cli", "run", "--quiet", "--months", "2025-01"]
    first = subprocess.Popen(command, cwd=PROJECT_ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (holder(settings.warehouse) or {}).get("what") != "outcomes run":
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.2)
    second = subprocess.Popen(command, cwd=PROJECT_ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, out1 + err1
    assert second.returncode == 0, out2 + err2
    assert f"is being written by outcomes run (pid {first.pid}, since " in err2  # it waited, and said why
    assert "Could not set lock" not in out2 + err2
    logs = sorted((settings.warehouse / "logs").glob("run_*.log"))
    assert len(logs) == 2  # one log per run
    assert (settings.warehouse / "logs" / "last_run.log").resolve() == logs[-1]
    with DagsterInstance.get() as instance:
        runs = sorted(instance.get_run_records(RunsFilter(job_name="main")), key=lambda r: r.start_time)
    assert len(runs) == 2 and runs[0].end_time <= runs[1].start_time  # one after the other

    # A writer that holds on past the timeout: one line, exit 1, nothing run
    monkeypatch.setenv(ENV_LOCK_TIMEOUT, "1")
    other = hold_writer_lock(settings.warehouse)
    try:
        assert main(["run", "--quiet"]) == 1
    finally:
        other.kill()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("outcomes run: error: the warehouse ") and "after 1 s of waiting" in err[-1]
