"""Run the pipeline as its own process and measure it: wall time, per-stage time from the event log, memory.

Why a child process: the cold build must pay what a person pays for `outcomes run` (Python
start, imports, loading the Dagster definitions, the run's orchestration) and its memory must
not be mixed with the benchmark's own. The child is the real `outcomes run` CLI for cold
builds, and `python -m pipelines.tools.bench.run_months` (the same `run_main_job` with a one-month
partition range, the tags the landing sensor puts on its run requests) for the new month.

Per-stage time comes from the run's Dagster event log (STEP_START .. STEP_SUCCESS per step
key). With the in-process executor and single-run backfill policies every asset is one step
for the whole month range (raw__vitals, staging__vitals, dbt_build, ...), and every
GX suite is its own asset-check step (staging__vitals_gx_suite). Steps map to stages by the
asset keys they materialise (raw/* ingest, staging/* validate, publish/warehouse publish,
publish/report* or report*/* report, everything else dbt = transform) or, for check-only steps,
by the check name (gx_suite -> gx). Time outside any step is overhead: start-up before the
run starts (imports, definitions, dbt manifest), orchestration between steps, and the
summary after the run.

Memory: a thread samples the RSS of the child and all its descendants (dbt runs as a
grandchild) every ~50 ms; each sample is attributed to the stage whose step interval holds
its timestamp, and the highest RSS of any single process is kept with its name.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

STAGES = ("ingest", "validate", "gx", "transform", "publish", "report")
STAGE_LABELS = {
    "ingest": "ingest (raw)",
    "validate": "validate (staging)",
    "gx": "validate: GX checks",
    "transform": "transform (dbt)",
    "publish": "publish (warehouse)",
    "report": "report",
    "overhead": "overhead (outside steps)",
}
SAMPLE_SECONDS = 0.05
TREE_EVERY = 5  # re-list the process tree every 5th sample: listing scans all of /proc (~5 ms of CPU)


@dataclass
class Sample:
    t: float  # epoch seconds, the clock of Dagster's event timestamps
    tree_rss: int  # bytes, the child and all its descendants
    tree_cpu: float  # CPU seconds (user + system) so far of the child, its live and its reaped descendants


@dataclass
class ProcessPeak:
    pid: int
    label: str
    rss: int
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass
class Sampled:
    samples: list[Sample] = field(default_factory=list)
    peaks: dict[int, ProcessPeak] = field(default_factory=dict)


def _label(proc: psutil.Process, root_pid: int) -> str:
    """A short, value-free name for a process: the pipeline itself, dbt, or the executable's name."""
    try:
        cmd = proc.cmdline()
    except (psutil.Error, OSError):
        return "?"
    text = " ".join(cmd[:3])
    if proc.pid == root_pid:
        return "pipeline (python)"
    try:
        if cmd == psutil.Process(root_pid).cmdline():
            # a subprocess between fork and exec: it shares (and shows) the parent's pages
            return "pipeline fork (before exec)"
    except (psutil.Error, OSError):
        pass
    if "dbt" in text:
        return "dbt"
    if "chrom" in text:
        return "chromium"
    return Path(cmd[0]).name if cmd else "?"


class TreeSampler:
    """Background thread sampling the RSS of a process tree until stopped."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.result = Sampled()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        labels: dict[int, str] = {}
        procs: list[psutil.Process] = []
        tick = 0
        while not self._stop.is_set():
            now = time.time()
            if tick % TREE_EVERY == 0:
                try:
                    procs = [self.root, *self.root.children(recursive=True)]
                except psutil.Error:
                    procs = []
            tick += 1
            total, cpu = 0, 0.0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
                except psutil.Error:
                    continue
                total += rss
                cpu += times.user + times.system
                if proc.pid == self.root.pid:  # descendants it has already reaped (dbt after its run)
                    cpu += times.children_user + times.children_system
                if proc.pid not in labels:
                    labels[proc.pid] = _label(proc, self.root.pid)
                peak = self.result.peaks.get(proc.pid)
                if peak is None:
                    peak = ProcessPeak(proc.pid, labels[proc.pid], rss, now, now)
                    self.result.peaks[proc.pid] = peak
                peak.rss = max(peak.rss, rss)
                peak.last_seen = now
            if total:
                last = self.result.samples[-1].tree_cpu if self.result.samples else 0.0
                self.result.samples.append(Sample(now, total, max(cpu, last)))
            self._stop.wait(self.interval)


@dataclass
class Step:
    key: str
    start: float
    end: float
    status: str  # success | failure | skipped
    stage: str
    assets: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # the step's own "*seconds" metadata, summed

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


def stage_of_asset(path: Sequence[str]) -> str:
    """The pipeline stage an asset key belongs to (see the module docstring)."""
    head = path[0]
    if head == "raw":
        return "ingest"
    if head == "staging":
        return "validate"
    if head == "publish":
        return "report" if any("report" in p for p in path[1:]) else "publish"
    if head in ("report", "reports"):
        return "report"
    return "transform"  # dbt's schemas: stg, intermediate, marts, reporting, data_quality, reference


def _stage_of_step(assets: list[list[str]], checks: list[tuple[list[str], str]]) -> str:
    if assets:
        stages = {stage_of_asset(a) for a in assets}
        return "transform" if "transform" in stages else sorted(stages)[0]
    if any(name == "gx_suite" for _, name in checks):
        return "gx"
    if checks:
        return stage_of_asset(checks[0][0])
    return "other"


def _add_timings(into: dict[str, float], metadata: object, batch: bool = False) -> None:
    """Add up numeric metadata entries named *seconds (the report's html/pdf render times per month).

    `batch`: every month's entry carries the time of one run over all the months (GX's suite
    checks a batch of the run's months and reports it on each): the largest, not the sum."""
    if not isinstance(metadata, dict):
        return
    for name, value in metadata.items():
        raw = getattr(value, "value", value)
        if str(name).endswith("seconds") and isinstance(raw, int | float) and not isinstance(raw, bool):
            into[name] = max(into.get(name, 0.0), float(raw)) if batch else into.get(name, 0.0) + float(raw)


def read_run(home: Path, since: float) -> tuple[str, dict[str, float], list[Step]] | None:
    """The newest run started after `since` in the Dagster instance at `home`: id, run events, steps."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        records = [r for r in instance.get_run_records(limit=20)
                   if r.create_timestamp.timestamp() >= since - 1]
        if not records:
            return None
        run_id = records[0].dagster_run.run_id
        run_events: dict[str, float] = {"run_created": records[0].create_timestamp.timestamp()}
        starts: dict[str, float] = {}
        ends: dict[str, tuple[float, str]] = {}
        assets: dict[str, list[list[str]]] = {}
        checks: dict[str, list[tuple[list[str], str]]] = {}
        timings: dict[str, dict[str, float]] = {}
        entries = instance.all_logs(run_id)
        run_events["events"] = len(entries)
        run_events["events_planned"] = 0
        for entry in entries:
            event = entry.dagster_event
            if event is None:
                continue
            kind, key, ts = event.event_type, entry.step_key, entry.timestamp
            if kind == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                run_events["events_planned"] += 1
            if kind == DagsterEventType.RUN_START:
                run_events["run_start"] = ts
            elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
                run_events["run_end"] = ts
                run_events["run_success"] = float(kind == DagsterEventType.RUN_SUCCESS)
            elif key is None:
                continue
            elif kind == DagsterEventType.STEP_START:
                starts[key] = ts
            elif kind == DagsterEventType.STEP_SUCCESS:
                ends[key] = (ts, "success")
            elif kind == DagsterEventType.STEP_FAILURE:
                ends[key] = (ts, "failure")
            elif kind == DagsterEventType.STEP_SKIPPED:
                ends[key] = (ts, "skipped")
            elif kind == DagsterEventType.ASSET_MATERIALIZATION:
                assets.setdefault(key, []).append(list(event.asset_key.path))
                materialization = getattr(event.step_materialization_data, "materialization", None)
                _add_timings(timings.setdefault(key, {}), getattr(materialization, "metadata", None))
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
                data = event.asset_check_evaluation_data
                checks.setdefault(key, []).append((list(data.asset_key.path), data.check_name))
                _add_timings(timings.setdefault(key, {}), getattr(data, "metadata", None), batch=True)
    steps = []
    for key, (end, status) in ends.items():
        start = starts.get(key, end)
        step_assets = assets.get(key, [])
        steps.append(Step(key, start, end, status, _stage_of_step(step_assets, checks.get(key, [])),
                          assets=sorted("/".join(a) for a in step_assets),
                          checks=sorted(f"{'/'.join(a)}:{c}" for a, c in checks.get(key, [])),
                          timings={k: round(v, 3) for k, v in timings.get(key, {}).items()}))
    steps.sort(key=lambda s: s.start)
    return run_id, run_events, steps


def _in_any(t: float, intervals: list[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in intervals)


def _cpu_at(samples: list[Sample], t: float) -> float:
    """Cumulative tree CPU at time t: the last sample at or before t (the first one if none)."""
    before = [s.tree_cpu for s in samples if s.t <= t]
    return before[-1] if before else (samples[0].tree_cpu if samples else 0.0)


def _rss_at(samples: list[Sample], t: float) -> int:
    before = [s.tree_rss for s in samples if s.t <= t]
    return before[-1] if before else (samples[0].tree_rss if samples else 0)


def _cpu_in(samples: list[Sample], intervals: list[tuple[float, float]]) -> float:
    return sum(max(_cpu_at(samples, end) - _cpu_at(samples, start), 0.0) for start, end in intervals)


def _peak_in(samples: list[Sample], intervals: list[tuple[float, float]]) -> tuple[int, int]:
    """(peak tree RSS, samples) inside the intervals; for a step shorter than the sampling period,
    the nearer of the samples just before and just after it (so a short stage still gets a figure)."""
    inside = [s.tree_rss for s in samples if _in_any(s.t, intervals)]
    if inside or not samples:
        return max(inside, default=0), len(inside)
    around = []
    for start, end in intervals:
        before = [s for s in samples if s.t < start]
        after = [s for s in samples if s.t > end]
        around += [x.tree_rss for x in (before[-1:] + after[:1])]
    return max(around, default=0), 0


def _dbt_log_phases(log: Path) -> dict[str, object]:
    """From dbt's JSON log: seconds to the adapter, to the parsed manifest and to the first node,
    whether partial parsing was refused (and why), and dbt's own summary of what it built."""
    from datetime import datetime

    first: datetime | None = None
    marks: dict[str, float] = {}
    out: dict[str, object] = {}
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return out
    codes = {"E034": "adapter_registered_after_s", "W006": "manifest_ready_after_s",
             "Q024": "first_node_after_s", "E047": "last_node_done_after_s"}
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            info = json.loads(line)["info"]
            ts = datetime.fromisoformat(info["ts"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            continue
        first = first or ts
        code = info.get("code")
        if code in codes and codes[code] not in marks:
            marks[codes[code]] = round((ts - first).total_seconds(), 2)
        if code == "I024" and "partial_parse_refused" not in out:
            out["partial_parse_refused"] = info.get("msg", "")[:160]
        if code == "E047":
            out["built"] = info.get("msg", "")[:200]
    out.update(marks)
    return out


def dbt_profile(dbt_target: Path, run_id: str, step: Step | None, processes: list[ProcessPeak],
                top: int = 8) -> dict[str, object] | None:
    """Where the transform step's time goes: dbt's own node timings vs the dbt process vs the Dagster step.

    dbt's run_results.json (in the run's dagster-dbt target folder) gives per-node times and
    the elapsed time of its execution phase; the sampled dbt process gives its lifetime, so
    dbt start-up (imports, manifest, adapter) = lifetime - elapsed, and the rest of the step
    is dagster-dbt around the process (events and asset checks written to the run's log).
    """
    prefix = step.key if step is not None else "*"  # dagster-dbt names the folder <op>-<run id[:7]>-...
    found = sorted(dbt_target.glob(f"{prefix}-{run_id[:7]}-*/run_results.json"))
    if not found:
        return None
    data = json.loads(found[-1].read_text(encoding="utf-8"))
    phases = _dbt_log_phases(found[-1].with_name("dbt.log"))
    nodes = []
    for result in data.get("results", []):
        uid = result.get("unique_id", "")
        nodes.append({"node": uid, "seconds": round(float(result.get("execution_time") or 0.0), 3),
                      "status": result.get("status")})
    by_type: dict[str, float] = {}
    count_by_type: dict[str, int] = {}
    for node in nodes:
        kind = node["node"].split(".", 1)[0]
        by_type[kind] = by_type.get(kind, 0.0) + node["seconds"]
        count_by_type[kind] = count_by_type.get(kind, 0) + 1
    nodes.sort(key=lambda n: n["seconds"], reverse=True)
    elapsed = float(data.get("elapsed_time") or 0.0)
    lifetime = None
    if step is not None:
        dbt_procs = [p for p in processes if p.label == "dbt" and step.start <= p.first_seen <= step.end]
        if dbt_procs:
            lifetime = max(p.last_seen for p in dbt_procs) - min(p.first_seen for p in dbt_procs)
    return {
        "step_seconds": round(step.seconds, 3) if step else None,
        "process_seconds": round(lifetime, 3) if lifetime is not None else None,
        "startup_seconds": round(lifetime - elapsed, 3) if lifetime is not None else None,
        "outside_process_seconds":
            round(step.seconds - lifetime, 3) if step and lifetime is not None else None,
        "elapsed_seconds": round(elapsed, 3),
        "log_phases": phases,
        "node_seconds_by_type": {k: round(v, 2) for k, v in sorted(by_type.items())},
        "nodes_by_type": count_by_type,
        "slowest": nodes[:top],
    }


def run_measured(command: list[str], env: dict[str, str], home: Path, log: Path, input_rows: int,
                 dbt_target: Path) -> dict[str, object]:
    """Run one pipeline command as a child process, sampled, and summarise its run per stage."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        started = time.time()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        with TreeSampler(child.pid) as sampler:
            # wait4, not wait: the kernel's rusage of the child and every descendant it reaped gives
            # exact CPU seconds and the exact peak RSS of the largest process, unlike sampling.
            _, status, usage = os.wait4(child.pid, 0)
            code = child.returncode = os.waitstatus_to_exitcode(status)
        ended = time.time()
    wall = ended - started
    cpu = usage.ru_utime + usage.ru_stime
    found = read_run(home, started)
    result: dict[str, object] = {
        "command": [Path(command[0]).name, *command[1:]],
        "exit_code": code,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "input_rows": input_rows,
        "rows_per_second": round(input_rows / wall) if wall > 0 else None,
        "log": str(log),
    }
    sampled = sampler.result
    peaks = sorted(sampled.peaks.values(), key=lambda p: p.rss, reverse=True)
    result["peak_rss_tree_bytes"] = max((s.tree_rss for s in sampled.samples), default=0)
    result["peak_rss_process_sampled_bytes"] = peaks[0].rss if peaks else 0
    result["peak_rss_process_kernel_bytes"] = usage.ru_maxrss * 1024  # Linux reports KiB
    result["peak_rss_process_bytes"] = max(usage.ru_maxrss * 1024, peaks[0].rss if peaks else 0)
    result["peak_rss_process"] = peaks[0].label if peaks else None
    by_label: dict[str, int] = {}
    for peak in peaks:
        by_label[peak.label] = max(by_label.get(peak.label, 0), peak.rss)
    result["peak_rss_by_process"] = by_label
    result["samples"] = len(sampled.samples)
    if found is None:
        result["success"] = False
        result["error"] = "no Dagster run found in the instance (see the log)"
        return result
    run_id, run_events, steps = found
    result["run_id"] = run_id
    result["dagster_events"] = {"all": int(run_events["events"]),
                                "materializations_planned": int(run_events["events_planned"])}
    result["success"] = code == 0 and bool(run_events.get("run_success"))
    stages: dict[str, dict[str, object]] = {}
    for stage in (*STAGES, "other"):
        mine = [s for s in steps if s.stage == stage and s.status != "skipped"]
        if not mine:
            continue
        intervals = [(s.start, s.end) for s in mine]
        seconds = sum(s.seconds for s in mine)
        peak_rss, n_samples = _peak_in(sampled.samples, intervals)
        stage_cpu = _cpu_in(sampled.samples, intervals)
        stages[stage] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(stage_cpu, 3),
            "share_of_wall": round(seconds / wall, 3) if wall > 0 else None,
            "rows_per_second": round(input_rows / seconds) if seconds > 0 else None,
            "peak_rss_bytes": peak_rss,
            # RSS already held when the stage began (the process keeps what earlier stages took)
            "rss_at_start_bytes": _rss_at(sampled.samples, mine[0].start),
            "samples": n_samples,
            "steps": {s.key: round(s.seconds, 3) for s in mine},
            "reported_by_steps": {f"{s.key}:{k}": v for s in mine for k, v in s.timings.items()},
        }
    in_steps = [(s.start, s.end) for s in steps if s.status != "skipped"]
    step_seconds = sum(s.seconds for s in steps)
    run_start = run_events.get("run_start", started)
    run_created = min(run_events.get("run_created", run_start), run_start)
    run_end = run_events.get("run_end", ended)
    outside = [x.tree_rss for x in sampled.samples if not _in_any(x.t, in_steps)]
    overhead = wall - step_seconds
    stages["overhead"] = {
        "seconds": round(overhead, 3),
        "cpu_seconds": round(max(cpu - sum(s.get("cpu_seconds", 0.0) for s in stages.values()), 0.0), 3),
        "share_of_wall": round(overhead / wall, 3) if wall > 0 else None,
        "rows_per_second": None,
        "peak_rss_bytes": max(outside, default=0),
        "samples": len(outside),
        "steps": {
            "startup (process start to run created: imports, definitions)": round(run_created - started, 3),
            "run planning (run created to run start: planned-materialization events per partition)":
                round(run_start - run_created, 3),
            "orchestration (run start to run end, outside steps)":
                round((run_end - run_start) - step_seconds, 3),
            "after the run (summary, process exit)": round(ended - run_end, 3),
        },
    }
    result["stages"] = stages
    result["step_list"] = [
        {"key": s.key, "stage": s.stage, "status": s.status, "seconds": round(s.seconds, 3)} for s in steps
    ]
    # The longest dbt step (all history: intermediate, marts, reporting) is the one profiled.
    dbt_steps = [s for s in steps if s.stage == "transform" and s.status != "skipped"]
    dbt_step = max(dbt_steps, key=lambda s: s.seconds, default=None)
    result["dbt"] = dbt_profile(dbt_target, run_id, dbt_step, peaks)
    return result


def child_env(home: Path, project_root: Path) -> dict[str, str]:
    """The child's environment: its own DAGSTER_HOME, this source tree first on the path, folders by flag."""
    folders = ("OUTCOMES_LANDING", "OUTCOMES_WAREHOUSE", "OUTCOMES_REPORTS")  # flags say them instead
    env = {k: v for k, v in os.environ.items() if k not in folders}
    env["DAGSTER_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project_root), os.environ.get("PYTHONPATH")]))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["PYTHONWARNINGS"] = "ignore"
    return env
