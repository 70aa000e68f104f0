"""Real pipeline runs and warehouse readers as separate processes, for the fault and load tests.

The fault tests SIGKILL `outcomes run` at chosen points and the load test reads the published
warehouse from several processes while a run republishes it. Both need the same pieces:
starting a run the way an operator would (its own process group, so dbt dies with it),
watching a run's progress in its Dagster instance instead of guessing with sleeps, and
comparing warehouses by content. The reader loop lives here too so that it can run as
`python -m tests.pipeline_processes reader ...` in a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = Path(sys.executable).with_name("outcomes")
PUBLISHED = "outcomes.duckdb"
TEMPORARY_GLOB = f".{PUBLISHED}.*.tmp*"  # the publish step's new file and its WAL
RUN_TIMEOUT = 600.0


# --- runs --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The folders of one deployment: what `outcomes run` gets as flags, plus its DAGSTER_HOME."""

    landing: Path
    warehouse: Path
    reports: Path
    home: Path

    @classmethod
    def under(cls, root: Path, landing: Path | None = None) -> Place:
        """Fresh folders under root (landing shared when given); the instance without telemetry."""
        place = cls(landing or root / "landing", root / "warehouse", root / "reports", root / "dagster_home")
        place.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", place.home / "dagster.yaml")
        return place

    @property
    def build_db(self) -> Path:
        return self.warehouse / "build.duckdb"

    @property
    def published(self) -> Path:
        return self.warehouse / PUBLISHED

    def temporaries(self) -> list[Path]:
        return sorted(self.warehouse.glob(TEMPORARY_GLOB))


def start_run(place: Place, output: Path) -> subprocess.Popen[bytes]:
    """`outcomes run` in a new session: its process group holds it and the dbt it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCOMES_")}
    env["DAGSTER_HOME"] = str(place.home)
    command = [str(OUTCOMES), "run", "--landing", str(place.landing),
               "--warehouse", str(place.warehouse), "--reports", str(place.reports)]
    with output.open("ab") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                cwd=output.parent, start_new_session=True)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


def run_to_completion(place: Place, output: Path) -> None:
    """A whole run that must succeed (the good build, the clean reference, the recovery run)."""
    proc = start_run(place, output)
    try:
        code = proc.wait(timeout=RUN_TIMEOUT)
    finally:
        kill_group(proc)
    assert code == 0, f"outcomes run exited {code}:\n{tail(output)}"


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def describe(proc: psutil.Process) -> str:
    """'outcomes' or 'dbt' rather than 'python3.11': the script a Python process runs."""
    try:
        cmdline = proc.cmdline()
    except psutil.Error:
        return "?"
    if not cmdline:
        return proc.name()
    if not Path(cmdline[0]).name.startswith("python"):
        return Path(cmdline[0]).name
    args = iter(cmdline[1:])
    for arg in args:
        if arg in ("-m", "-c"):
            return f"python {arg} {next(args, '')[:40]}"
        if not arg.startswith("-"):
            return Path(arg).name
    return "python"


def kill_group(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> list[str]:
    """SIGKILL the run's whole process group and wait until none of it is left; the names it held."""
    members = group_members(proc.pid) if proc.poll() is None else []
    names = [describe(m) for m in members]
    with contextlib.suppress(ProcessLookupError):  # the group may have finished on its own
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while group_members(proc.pid):
        assert time.monotonic() < deadline, f"process group {proc.pid} survived SIGKILL"
        time.sleep(0.05)
    return names


class DbtMartWatch:
    """Has a live `dbt build` under the run finished at least one marts model (with more to go)?

    Read from dbt's own log file (the DBT_LOG_PATH that dagster-dbt gives each invocation,
    relative to the dbt project), not from Dagster's events, which trail dbt by seconds on a busy
    machine. The log grows to megabytes, so each look reads only what was appended since the last.
    """

    DONE = '"description": "sql table model marts.'  # on a line with an execution_time: LogModelResult

    def __init__(self) -> None:
        self.read_up_to: dict[Path, int] = {}

    def _logs(self, run_pid: int) -> list[Path]:
        try:
            children = psutil.Process(run_pid).children(recursive=True)
        except psutil.Error:
            return []
        logs = []
        for child in children:  # also `dbt --version` (no log path) and zombies: skip those
            try:
                if describe(child) == "dbt" and "DBT_LOG_PATH" in (env := child.environ()):
                    logs.append(Path(child.cwd()) / env["DBT_LOG_PATH"] / "dbt.log")
            except psutil.Error:
                continue
        return logs

    def __call__(self, run_pid: int) -> bool:
        for log in self._logs(run_pid):
            if not log.exists():
                continue
            with log.open("rb") as handle:
                handle.seek(self.read_up_to.get(log, 0))
                chunk = handle.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for next time
            self.read_up_to[log] = self.read_up_to.get(log, 0) + len(complete)
            lines = complete.decode(errors="replace").splitlines()
            if any(self.DONE in line and '"execution_time"' in line for line in lines):
                return True
        return False


# --- watching a run in its Dagster instance ----------------------------------------------------------------


class RunWatcher:
    """Progress of the next run in a DAGSTER_HOME, read from its event log by another process.

    With the in-process executor every asset (or multi-asset) is one step of the run: raw__vitals,
    staging__vitals, staging__vitals_gx_suite, dbt_build (one `dbt build`),
    publish__warehouse.
    """

    def __init__(self, home: Path) -> None:
        from dagster import DagsterInstance

        self.instance = DagsterInstance.from_config(str(home))
        self.earlier = {run.run_id for run in self.instance.get_runs()}
        self.run_id: str | None = None

    def close(self) -> None:
        self.instance.dispose()

    def __enter__(self) -> RunWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retrying(self, read: Callable[[], Any]) -> Any:
        """SQLite may be busy for a moment while the run commits; that is not a test failure."""
        for attempt in range(50):
            try:
                return read()
            except Exception as error:  # sqlalchemy OperationalError: database is locked
                if "locked" not in str(error) or attempt == 49:
                    raise
                time.sleep(0.02)
        return None

    def find_run(self) -> str | None:
        if self.run_id is None:
            runs = self._retrying(lambda: self.instance.get_runs(limit=5))
            fresh = [run.run_id for run in runs if run.run_id not in self.earlier]
            self.run_id = fresh[0] if fresh else None
        return self.run_id

    def _events(self, event_type: str) -> list[Any]:
        from dagster import DagsterEventType

        run_id = self.find_run()
        if run_id is None:
            return []
        kind = DagsterEventType(event_type)
        return self._retrying(lambda: self.instance.all_logs(run_id, of_type=kind))

    def started_steps(self) -> list[str]:
        return [e.step_key for e in self._events("STEP_START")]

    def succeeded_steps(self) -> list[str]:
        return [e.step_key for e in self._events("STEP_SUCCESS")]

    def materialized(self) -> list[str]:
        return [e.dagster_event.asset_key.to_user_string() for e in self._events("ASSET_MATERIALIZATION")]

    def step_window(self, step_key: str) -> tuple[float, float] | None:
        """Wall-clock start and end of a step (for lining readers' iterations up with publish)."""
        start = [e.timestamp for e in self._events("STEP_START") if e.step_key == step_key]
        end = [e.timestamp for e in self._events("STEP_SUCCESS") if e.step_key == step_key]
        return (start[0], end[0]) if start and end else None

    def status(self) -> str:
        run_id = self.find_run()
        assert run_id is not None, "the run never reached the instance"
        return self._retrying(lambda: self.instance.get_run_by_id(run_id)).status.value


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[bytes], output: Path,
               what: str, timeout: float = RUN_TIMEOUT, interval: float = 0.01) -> float:
    """Poll until condition holds while the run is still alive; seconds waited."""
    started = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}:\n{tail(output)}")
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


# --- comparing warehouses ----------------------------------------------------------------------------------

# Differs between two builds of the same inputs by design: ids, build and check times.
VOLATILE_TABLES = {"meta.build", "meta.disclosure_audit"}  # the audit: its seconds
VOLATILE_TYPES = ("TIMESTAMP",)  # only in data_quality (checked_at, recorded_at); marts times are data


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9) + 0.0  # the last bits of a double depend on summation order; -0.0 is 0.0
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def table_digest(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                 drop_types: Iterable[str] = ()) -> tuple[int, str]:
    """Row count and a hash of the rows, independent of row order."""
    columns = [name for name, kind in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
        if not kind.startswith(tuple(drop_types))]
    listed = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(f'SELECT {listed} FROM {schema}."{table}"').fetchall()
    lines = sorted(repr(_normal(list(row))) for row in rows)
    return len(rows), hashlib.sha256("\n".join([listed, *lines]).encode()).hexdigest()


def content(path: Path) -> dict[str, tuple[int, str]]:
    """Every table of a warehouse file by content, minus what differs between builds by design."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                             "WHERE database_name = current_database() ORDER BY ALL").fetchall()
        return {f"{s}.{t}": table_digest(con, s, t, VOLATILE_TYPES if s == "data_quality" else ())
                for s, t in tables if f"{s}.{t}" not in VOLATILE_TABLES}


@dataclass(frozen=True)
class PublishedBuild:
    """What a reader of outcomes.duckdb can tell about the build it holds."""

    build_id: str
    months: tuple[str, ...]
    file_sha256: str
    tables: dict[str, tuple[int, str]]

    @classmethod
    def read(cls, path: Path) -> PublishedBuild:
        with duckdb.connect(str(path), read_only=True) as con:
            build_id, months = con.execute("SELECT build_id, months FROM meta.build").fetchone()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(build_id, tuple(months), digest, content(path))


# --- readers -----------------------------------------------------------------------------------------------

PCL5_RESPONSE = ("SELECT sum(n_met), sum(n_eligible) FROM marts.response_rates "
                 "WHERE site_id = 'ALL' AND instrument = 'PCL5' AND measure = 'response'")


@dataclass
class ReaderReport:
    """One reader process's loop: what it saw, how long each query took, what went wrong."""

    iterations: int = 0
    errors: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)  # build ids in the order first seen, repeats collapsed
    per_build: dict[str, list[Any]] = field(default_factory=dict)  # build id -> [build_tables, pcl5]
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    started_at: list[float] = field(default_factory=list)  # wall clock of each iteration
    last_build_after_stop: str | None = None
    fallback_used: bool = False
    reconnects: int = 0  # connects that met the swap and were made again (docs/querying.md)


def _timed(report: ReaderReport, name: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    report.latency_ms.setdefault(name, []).append((time.perf_counter() - started) * 1000)
    return result


def connect_as_documented(path: Path, report: ReaderReport) -> duckdb.DuckDBPyConnection:
    """A read-only connection as docs/querying.md tells readers to open one: DuckDB opens the file
    by name three times while it connects, so a connect at the instant of the swap can read one
    build's header and the other's blocks and fail; the advice is to connect again, once. Only
    that failure (DuckDB names its metadata) is retried: a lock conflict is an error at once."""
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        if "metadata" not in str(error).lower():
            raise
        report.reconnects += 1
        time.sleep(0.05)
        return duckdb.connect(str(path), read_only=True)


def read_once(path: Path, report: ReaderReport, expected_marts: int) -> str:
    """One iteration: a new read-only connection, the build, its tables' counts, a real query."""
    con = _timed(report, "connect", lambda: connect_as_documented(path, report))
    try:
        build_id = _timed(report, "meta.build", lambda: con.execute("SELECT build_id FROM meta.build")
                          .fetchone()[0])
        has_counts = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                                 "AND table_name = 'build_tables'").fetchone()[0]
        if has_counts:
            listed = _timed(report, "meta.build_tables", lambda: con.execute(
                "SELECT schema_name, table_name, n_rows FROM meta.build_tables ORDER BY ALL").fetchall())
        else:  # publish without per-table counts: the number of marts tables is all we can check
            report.fallback_used = True
            listed = [("marts", "*", expected_marts)]
        counted = _timed(report, "count(*) of every table", lambda: [
            (s, t, con.execute(f'SELECT count(*) FROM {s}."{t}"').fetchone()[0] if t != "*" else
             con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts'").fetchone()[0])
            for s, t, _ in listed])
        pcl5 = _timed(report, "PCL5 response rate (ALL)", lambda: list(con.execute(PCL5_RESPONSE).fetchone()))
    finally:
        con.close()
    if counted != listed:
        wrong = [f"{s}.{t}: listed {n}, counted {c[2]}" for (s, t, n), c in zip(listed, counted, strict=True)
                 if c[2] != n]
        report.inconsistent.append(f"build {build_id}: {'; '.join(wrong)}")
    seen = report.per_build.setdefault(build_id, [listed, pcl5])
    if seen != [listed, pcl5]:
        report.inconsistent.append(f"build {build_id} read differently: {seen} then {[listed, pcl5]}")
    if not report.builds or report.builds[-1] != build_id:
        report.builds.append(build_id)
    return build_id


def reader_loop(path: Path, stop_file: Path, pause: float, expected_marts: int) -> ReaderReport:
    """Read until stop_file appears, then once more (that read must see whatever was published last).

    Between iterations it rests `pause` seconds, except while a publish is under way (its
    temporary file exists): then it reads back to back, to hit the swap as often as it can.
    """
    report = ReaderReport()
    ready = False
    stopping = False
    while True:
        stopping = stop_file.exists()
        report.started_at.append(time.time())
        started = time.perf_counter()
        try:
            seen = read_once(path, report, expected_marts)
            if stopping:
                report.last_build_after_stop = seen
        except Exception:
            report.errors.append(traceback.format_exc(limit=3))
        report.latency_ms.setdefault("iteration", []).append((time.perf_counter() - started) * 1000)
        report.iterations += 1
        if not ready:
            print("ready", flush=True)
            ready = True
        if stopping:
            return report
        if not any(path.parent.glob(TEMPORARY_GLOB)):
            time.sleep(pause)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def main(argv: list[str]) -> int:
    if argv[:1] == ["reader"]:
        path, stop_file, pause, expected_marts = argv[1:5]
        report = reader_loop(Path(path), Path(stop_file), float(pause), int(expected_marts))
        print(json.dumps(report.__dict__), flush=True)
        return 0
    print("usage: python -m tests.pipeline_processes reader PUBLISHED STOP_FILE PAUSE EXPECTED_MARTS",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


# --- another writer ----------------------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pipelines.writer_lock import writer_lock
    with writer_lock(Path(sys.argv[1]), "outcomes run"):
        print("held", flush=True)
        sys.stdin.readline()
""")


def hold_writer_lock(warehouse: Path) -> subprocess.Popen[str]:
    """Another process holding the warehouse's lock until its stdin gets a line (or it is killed)."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse)], cwd=PROJECT_ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process
