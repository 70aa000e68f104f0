"""Several reader processes query the published warehouse in a loop while a full run republishes it.

docs/querying.md tells quality teams they may query warehouse/outcomes.duckdb while pipelines
run. This holds that promise under load: four separate processes (not threads: DuckDB's
locks are per process) each open a new read-only connection per iteration, read the build id
and meta.build_tables, count every listed table and compute the network PCL-5 response
rate, while `outcomes run` builds a month the published file does not have yet and swaps the
new file in. Readers rest between iterations (the machine is small) but read back to back
while the publish step's temporary file exists, to meet the swap as often as possible.

Any exception in a reader is an error, including lock conflicts, but for one: DuckDB opens the
file by name three times while it connects (format, headers, data), so a connect at the instant
of the swap can fail, and docs/querying.md tells readers to connect again. Readers do that, once,
and count it; a second failure is an error. Each iteration must be one
consistent build: the counts equal the build_tables of the build id read on the same
connection, and a build id always reads the same way. Since the two builds differ by a
month, a reader that mixed old and new files would fail that check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from tests.conftest import LATER_MONTH, after_two_months
from tests.pipeline_processes import (
    PROJECT_ROOT,
    Place,
    PublishedBuild,
    ReaderReport,
    RunWatcher,
    kill_group,
    percentile,
    start_run,
    tail,
)

READERS = 4
PAUSE_SECONDS = 0.1
NEW_MONTH = LATER_MONTH  # arrives after the two-month build the readers start on


def start_reader(published: Path, stop_file: Path, expected_marts: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.pipeline_processes", "reader", str(published), str(stop_file),
               str(PAUSE_SECONDS), str(expected_marts)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=PROJECT_ROOT)


def test_readers_see_whole_builds_without_errors_while_a_run_republishes(
    tmp_path: Path, tiny_exports: Path, two_month_build: Place, record_property: Callable[[str, object], None]
) -> None:
    """Zero errors and one whole build per read, before, during and after the swap; figures printed."""
    place = after_two_months(two_month_build, tmp_path, tiny_exports)  # NEW_MONTH arrived after the build
    old = PublishedBuild.read(place.published)
    assert NEW_MONTH not in old.months
    with duckdb.connect(str(place.published), read_only=True) as con:
        expected_marts = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts'"
                                     ).fetchone()[0]

    stop_file = tmp_path / "stop"
    readers = [start_reader(place.published, stop_file, expected_marts) for _ in range(READERS)]
    output = tmp_path / "republish.log"
    try:
        for reader in readers:  # every reader has read the old build before the run starts
            assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
        with RunWatcher(place.home) as watcher:
            started = time.monotonic()
            run = start_run(place, output)
            try:
                code = run.wait(timeout=600)
            finally:
                kill_group(run)
            run_seconds = time.monotonic() - started
            publish_window = watcher.step_window("publish__warehouse")
            run_id = watcher.find_run()
        assert code == 0, tail(output)
        stop_file.touch()  # each reader reads once more, after the swap, and reports
        reports = []
        for reader in readers:
            out, err = reader.communicate(timeout=120)
            assert reader.returncode == 0, err[-3000:]
            reports.append(ReaderReport(**json.loads(out.strip().splitlines()[-1])))
    finally:
        stop_file.touch()
        for reader in readers:
            if reader.poll() is None:
                reader.kill()
                reader.communicate()

    new = PublishedBuild.read(place.published)
    with duckdb.connect(str(place.published), read_only=True) as con:
        assert con.execute("SELECT dagster_run_id FROM meta.build").fetchone()[0] == run_id
    assert new.build_id != old.build_id and NEW_MONTH in new.months

    errors = [e for r in reports for e in r.errors]
    inconsistent = [e for r in reports for e in r.inconsistent]
    assert not errors, f"{len(errors)} reader errors, the first:\n{errors[0]}"
    # one swap: a reader's connect can meet it at most once (then it connects again, as documented)
    assert all(r.reconnects <= 1 for r in reports), [r.reconnects for r in reports]
    assert not inconsistent, f"{len(inconsistent)} inconsistent reads: {inconsistent[:5]}"
    for report in reports:
        assert report.builds[0] == old.build_id  # saw the old build ...
        assert report.builds == [old.build_id, new.build_id], report.builds  # ... then the new, never back
        assert report.last_build_after_stop == new.build_id  # a new connection after the run: new build
    per_build = {}  # a build reads the same in every process: same counts, same PCL-5 rate
    for report in reports:
        for build_id, seen in report.per_build.items():
            assert per_build.setdefault(build_id, seen) == seen, build_id
    assert per_build[old.build_id] != per_build[new.build_id]  # the builds really differ
    assert not any(r.fallback_used for r in reports), "meta.build_tables is missing from the published file"

    assert publish_window, "the run has no publish step"
    during_publish = [ms for r in reports
                      for t, ms in zip(r.started_at, r.latency_ms["iteration"], strict=True)
                      if publish_window[0] <= t <= publish_window[1]]
    latencies = {name: [v for r in reports for v in r.latency_ms.get(name, [])]
                 for name in reports[0].latency_ms}
    figures = {
        "readers": READERS,
        "run_seconds": round(run_seconds, 1),
        "iterations_per_reader": [r.iterations for r in reports],
        "publish_step_seconds": round(publish_window[1] - publish_window[0], 2),
        "iterations_during_publish_step": len(during_publish),
        "iteration_ms_during_publish_p50_p95": [round(percentile(during_publish, 0.5), 1),
                                                round(percentile(during_publish, 0.95), 1)],
        "errors": len(errors),
        "reconnects": [r.reconnects for r in reports],
        "inconsistent": len(inconsistent),
        "builds_seen": [len(r.builds) for r in reports],
        "latency_ms_p50_p95": {name: [round(percentile(v, 0.5), 1), round(percentile(v, 0.95), 1)]
                               for name, v in latencies.items()},
    }
    record_property("reader_load", figures)
    print("\nreader load while a run republished:")
    for name, value in figures.items():
        print(f"  {name}: {value}")
