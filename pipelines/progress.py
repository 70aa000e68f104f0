"""Progress of an `outcomes run` while it works: a line per finished step, dbt and report counts.

The run executes in this process with its output going to the log file, so progress is read
back from the run's own event log (the Dagster instance) by a small thread and printed to the
terminal: what a person watching sees, and what cron's mail shows, is the same plain text.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from dagster import DagsterEventType, DagsterInstance
from tqdm import tqdm

from pipelines.files import modified_time
from pipelines.transform.project import DBT_STEP_PREFIX

# Step key prefix -> the stage a person knows it by (README: ingest, validate, transform, publish).
STAGES = (("raw__", "ingest"), ("staging__", "validate"), (DBT_STEP_PREFIX, "transform"),
          ("publish__report", "report"), ("publish__", "publish"))
WATCHED = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
           DagsterEventType.ASSET_MATERIALIZATION}
POLL_SECONDS = 1.0
DBT_EVERY_SECONDS = 10.0  # a dbt progress line at most this often
# dbt's own logs of this run (dagster-dbt gives each invocation a target folder named after the
# op and the run id; a run has one dbt step) and its progress lines: "12 of 226 OK created ...",
# not the on-run-start hook's own count ("1 of 1 OK hook: ...", which is no model)
DBT_LOG_GLOB = DBT_STEP_PREFIX + "*-{run}-*/dbt.log"
DBT_NODE_LINE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP|NO-OP)\b(?! hook\b)")


def stage_of(step_key: str) -> str:
    if step_key.endswith("_gx_suite"):
        return "validate"
    return next((stage for prefix, stage in STAGES if step_key.startswith(prefix)), "run")


def step_label(step_key: str) -> str:
    """raw__sessions -> raw/sessions; staging__vitals_gx_suite -> staging/vitals GX suite; dbt_build ->
    dbt build."""
    if step_key.startswith(DBT_STEP_PREFIX):
        return step_key.replace("_", " ", 1)
    if step_key.endswith("_gx_suite"):
        return step_key.removesuffix("_gx_suite").replace("__", "/", 1) + " GX suite"
    return step_key.replace("__", "/", 1)


class LogFollower:
    """The complete lines a growing log file gained since the last read.

    A line still being written is left for the next read (a count split across two reads would
    match neither half), and a log that dbt rotated (dbt.log renamed to dbt.log.1 at 10 MB, a
    new dbt.log begun) is followed across the rotation: the rest of the renamed file first.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: int | None = None
        self._offset = 0

    def new_lines(self) -> str:
        try:
            inode = self.path.stat().st_ino
        except OSError:  # not written yet, or pruned
            return ""
        text = b""
        if self._inode is not None and inode != self._inode:  # rotated since the last read
            rotated = self.path.with_name(self.path.name + ".1")
            try:
                if rotated.stat().st_ino == self._inode:
                    text = self._read(rotated, whole=True)
            except OSError:
                pass
            self._offset = 0
        self._inode = inode
        return (text + self._read(self.path)).decode("utf-8", errors="replace")

    def _read(self, path: Path, whole: bool = False) -> bytes:
        """From the offset to the last newline (`whole`: to the end, the file is finished)."""
        with path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        if not whole:
            data = data[:data.rfind(b"\n") + 1]
        self._offset += len(data)
        return data


class RunProgress(threading.Thread):
    """Prints progress lines for run `run_id` until stop() is called; then prints what is left."""

    def __init__(self, instance: DagsterInstance, run_id: str, out: TextIO, dbt_target: Path,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(name="outcomes-progress", daemon=True)
        self._instance, self._run_id, self._out = instance, run_id, out
        self._dbt_target = dbt_target
        self._dbt_log: LogFollower | None = None
        self._dbt_reported = ""
        self._bar: tqdm | None = None  # dbt's nodes as a bar on a terminal; lines otherwise
        self._tty = out.isatty()
        self._clock, self._t0 = clock, clock()
        self._cursor: str | None = None
        self._finished = threading.Event()
        self._step_started: dict[str, float] = {}
        # step -> (asset, month) -> that materialization's row count (a monthly asset has one per month)
        self._rows: dict[str, dict[tuple[str, str | None], int]] = {}
        self._reports: list[str] = []  # what the report step did, shown when it ends
        self._after: dict[str, str] = {}  # step -> a line said after its own (the disclosure audit's)
        self._dbt_last_line = 0.0

    def run(self) -> None:
        while not self._finished.wait(POLL_SECONDS):
            self._poll()
        self._poll()

    def stop(self) -> None:
        self._finished.set()
        self.join(timeout=30)
        if self._bar is not None:
            self._bar.close()

    def _line(self, stage: str, text: str) -> None:
        line = f"  [{self._clock() - self._t0:7.1f} s] {stage:<9} {text}"
        if self._bar is not None:
            self._bar.write(line, file=self._out)
        else:
            self._out.write(line + "\n")
            self._out.flush()

    def _poll(self) -> None:
        self._poll_dbt()
        try:
            found = self._instance.get_records_for_run(self._run_id, cursor=self._cursor, of_type=WATCHED)
        except Exception:  # the run has not written its first event yet, or storage is busy
            return
        self._cursor = found.cursor
        for record in found.records:
            try:
                self._show(record.event_log_entry)
            except Exception as problem:  # progress must never stop a run: say so, in the log
                print(f"progress: cannot show an event: {problem!r}")

    def _reports_line(self) -> None:
        """One line for the report step's month, once it ends: rendered, or kept (same inputs)."""
        for line in self._reports:
            self._line("report", line)
        self._reports = []

    def _poll_dbt(self, final: bool = False) -> None:
        """dbt's node count from its own log: a bar on a terminal, else a line every DBT_EVERY_SECONDS
        (`final`: the dbt step has ended, so its last count comes now, before the step's line)."""
        if not final and not self._tty and self._clock() - self._dbt_last_line < DBT_EVERY_SECONDS:
            return
        found = sorted(self._dbt_target.glob(DBT_LOG_GLOB.format(run=self._run_id[:7])), key=modified_time)
        if not found:
            return
        if self._dbt_log is None or found[-1] != self._dbt_log.path:  # a dbt step has started: follow it
            self._dbt_log, self._dbt_reported = LogFollower(found[-1]), ""
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        found = DBT_NODE_LINE.findall(self._dbt_log.new_lines())
        if not found:
            return
        done, total, _ = max(found, key=lambda f: int(f[0]))
        if done == self._dbt_reported:
            return
        self._dbt_reported, self._dbt_last_line = done, self._clock()
        if self._tty:
            if self._bar is None:
                self._bar = tqdm(total=int(total), desc="  dbt models, seeds and tests", file=self._out,
                                 leave=False, unit="node")
            self._bar.update(int(done) - self._bar.n)
        else:
            self._line("transform", f"dbt: {done} of {total} models, seeds and tests done")

    def _show(self, entry: object) -> None:
        event = entry.dagster_event
        step = event.step_key or ""
        stage, now = stage_of(step), entry.timestamp
        if event.event_type == DagsterEventType.STEP_START:
            self._step_started[step] = now
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            rows = materialization.metadata.get("dagster/row_count")
            if rows is not None:  # one materialization per month of a monthly asset: the months add up
                key = (materialization.asset_key.to_user_string(), materialization.partition)
                self._rows.setdefault(step, {})[key] = int(rows.value)
            audit = materialization.metadata.get("disclosure_audit")
            if audit is not None:  # said after the publish step's line
                found = audit.value
                self._after[step] = (f"disclosure audit: {found['hidden_cells']:,} hidden cells attacked, "
                                     f"none solvable; {found['pools_withheld']} pooled counts withheld "
                                     f"({found['seconds']} s)")
            if step == "publish__report":
                month = materialization.metadata.get("month")
                rendered = materialization.metadata.get("rendered")
                if month is not None:
                    kept = rendered is not None and not rendered.value
                    self._reports.append(f"report for {month.value} unchanged (same inputs), kept" if kept
                                         else f"report for {month.value} rendered")
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            if step.startswith(DBT_STEP_PREFIX):
                self._poll_dbt(final=True)
                if self._bar is not None:
                    self._bar.close()
                    self._bar = None
            took = now - self._step_started.get(step, now)
            counts = self._rows.get(step, {})
            total, tables = sum(counts.values()), len({key for key, _month in counts})
            rows = f", {total:,} rows in {'its table' if tables == 1 else f'{tables} tables'}" \
                if total else ""
            verdict = "done" if event.event_type == DagsterEventType.STEP_SUCCESS else "FAILED"
            self._line(stage, f"{step_label(step)} {verdict} in {took:.1f} s{rows}")
            if step in self._after:
                self._line(stage, self._after.pop(step))
            if step == "publish__report":
                self._reports_line()
