"""What of dbt's output may be kept: its structure, never the text of an error.

A model that fails on a row quotes the row's value in at least six of dbt's events (the
adapter's debug line, the caught exception, the node's run result, the skip notice of its
children, the end-of-run results and the error line) and in run_results.json. dagster-dbt
echoes every event to stdout, which Dagster captures into the step's compute log and our CLI
into last_run.log, and puts the error lines into the failure it raises.

So the dbt steps (transform/assets.py) print only what `console_line` allows, raise
`build_failure` (node names, statuses and DuckDB error classes), and `scrub_target` rewrites the
call's dbt.log and run_results.json the same way. An allow-list of event names, not a search for
values: a value cannot be recognised, but the events whose text dbt composes from the project
alone (node names, counts, timings, compiled SQL) can be listed. Every other event keeps its
name, code, level, time and node, with its text withheld.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pipelines.files import write_atomically
from pipelines.redaction import error_class

# Events whose message and data dbt builds from the project, the adapter and the clock only.
SAFE_EVENTS = frozenset({
    # start-up, parsing and connections
    "MainReportVersion", "MainReportArgs", "AdapterRegistered", "FoundStats", "ConcurrencyLine",
    "UnableToPartialParse", "PartialParsingEnabled", "PartialParsingNotEnabled", "StateCheckVarsHash",
    "NewConnection", "NewConnectionOpening", "ConnectionReused", "ConnectionUsed", "ConnectionClosed",
    "ConnectionClosedInCleanup", "Rollback", "SQLCommit", "SchemaCreation", "ArtifactWritten",
    "SQLQuery", "SQLQueryStatus",  # our models' compiled SQL and "OK"/row counts
    # nodes: "12 of 182 START/OK/ERROR/FAIL ... [n in 0.1s]"
    "NodeStart", "NodeCompiling", "NodeExecuting", "WritingInjectedSQLForNode", "SQLCompiledPath",
    "LogStartLine", "LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult",
    "LogNodeNoOpResult", "SkippingDetails", "RunResultFailure",  # "Failure in test x (path)"
    "HooksRunning", "LogHookStartLine", "LogHookEndLine",  # on-run-start (macros/lake_sources.sql)
    # the end
    "FinishedRunningStats", "EndOfRunSummary", "StatsLine", "CommandCompleted", "ResourceReport",
    "FlushEvents", "Formatting",
})
WITHHELD = "message withheld: dbt's error text can quote row values"
SCRUBBED_MARK = ".scrubbed"  # in a dbt call's target folder once its logs and results are rewritten
RUNNING_MARK = ".running"  # locked (fcntl) by the step process while its dbt call runs


def _node(raw: Mapping[str, Any]) -> str:
    info = raw.get("data", {}).get("node_info") or {}
    return f" on {info['resource_type']} {info['node_name']}" if info.get("node_name") else ""


def redact_event(raw: dict[str, Any]) -> dict[str, Any]:
    """A dbt JSON log event as it may be kept: whole when its name is safe, else without text."""
    info = raw.get("info", {})
    if info.get("name") in SAFE_EVENTS:
        return raw
    node_info = raw.get("data", {}).get("node_info")
    text = info.get("msg") or ""
    kept_info = {**info, "msg": f"{info.get('name', 'event')}{_node(raw)}: {_cause(text)}{WITHHELD}"}
    return {"info": kept_info, "data": {"node_info": node_info} if node_info else {}}


def _cause(text: str) -> str:
    found = error_class(text)
    return f"{found}: " if found != "database error" else ""


def console_line(raw: Mapping[str, Any]) -> str | None:
    """The line printed for a dbt event (compute log, last_run.log); None for debug noise."""
    info = raw.get("info", {})
    if info.get("level") == "debug":
        return None
    return str(redact_event(dict(raw))["info"].get("msg", ""))


def _redact_result(result: dict[str, Any]) -> dict[str, Any]:
    status = result.get("status")
    if status in ("success", "pass"):
        return result
    message = result.get("message") or ""
    failures = result.get("failures")
    said = f"{status}" + (f", {failures} failing rows" if failures else "")
    return {**result, "message": f"{said}: {_cause(message)}{WITHHELD}"}


def scrub_target(folder: Path) -> None:
    """Rewrite a dbt call's logs (dbt.log and the dbt.log.N that dbt rotates out at 10 MB) and
    run_results.json as `redact_event` keeps them; idempotent.

    Each file is replaced atomically. The folder is marked once done, so a later step can find
    and finish the folders of a call that was killed before it scrubbed its own.
    """
    for log in [folder / "dbt.log", *folder.glob("dbt.log.[0-9]*")]:
        if log.exists():
            _scrub_log(log)
    results = folder / "run_results.json"
    if results.exists():
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
        except ValueError:
            data = {"results": []}
        data["results"] = [_redact_result(r) for r in data.get("results", [])]
        write_atomically(results, json.dumps(data).encode("utf-8"))
    (folder / SCRUBBED_MARK).touch()


def _scrub_log(log: Path) -> None:
    kept = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # not an event (a crash's traceback): nothing of it is known to be safe
            kept.append(json.dumps({"info": {"name": "UnparsedLine", "level": "error", "msg": WITHHELD},
                                    "data": {}}))
            continue
        kept.append(json.dumps(redact_event(event)) if isinstance(event, dict) else line)
    write_atomically(log, ("\n".join(kept) + "\n").encode("utf-8"))


def new_call_folder(target: Path, step: str, run_id: str) -> Path:
    """A dbt call's own target folder, named as dagster-dbt names them (step, run, a unique part)."""
    return target / f"{step}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"


@contextlib.contextmanager
def running_call(folder: Path) -> Iterator[Path]:
    """Create `folder` and hold its lock while the dbt call writing there runs: another
    deployment's step that shares this dbt project must not scrub or prune a live call."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / RUNNING_MARK).open("ab") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        yield folder


def is_running(folder: Path) -> bool:
    """Whether another process holds `folder`'s lock (its dbt call still runs)."""
    try:
        with (folder / RUNNING_MARK).open("rb+") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:  # a call folder from before the lock, or one being removed
        return False
    except OSError:
        return True
    return False


def scrub_unfinished(target: Path, step: str) -> None:
    """Scrub the call folders of `step` that a killed run left unscrubbed (not live ones)."""
    for folder in target.glob(f"{step}-*"):
        if folder.is_dir() and not (folder / SCRUBBED_MARK).exists() and not is_running(folder):
            scrub_target(folder)


def build_failure(step: str, results: Iterable[Mapping[str, Any]], returncode: int | None) -> str:
    """The failure of a dbt step in words that hold no row value: which nodes, how, and what next."""
    failed, skipped = [], 0
    for result in results:
        status = result.get("status")
        if status == "skipped":
            skipped += 1
        elif status in ("error", "fail"):
            kind, _, name = str(result.get("unique_id", "")).split(".", 2)
            failures = result.get("failures")
            how = f"{status}, {failures} failing rows" if status == "fail" and failures else str(status)
            cause = _cause(result.get("message") or "")
            failed.append(f"{kind} {name.split('.')[0]} ({how}{'; ' + cause[:-2] if cause else ''})")
    if not failed:
        return (f"{step}: dbt exited with code {returncode} before building any node; its messages are "
                "withheld (they can quote row values): run `dbt parse` in dbt/ to see a project error")
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return (f"{step}: dbt failed on {', '.join(failed[:5])}{more}; {skipped} nodes skipped downstream. "
            "dbt's error text is withheld because it can quote row values: the failing rows are in the "
            "build file's staging tables")
