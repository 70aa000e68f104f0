"""Error text that leaves the build holds no row value (issue #12, item 3): DuckDB's own errors,
dbt's events and artifacts, and a failing Python step as Dagster records it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import AssetExecutionContext, Failure, MaterializeResult, asset, materialize

from pipelines.redaction import error_class, masked, values_withheld
from pipelines.transform.dbt_output import (
    SCRUBBED_MARK,
    build_failure,
    console_line,
    redact_event,
    running_call,
    scrub_target,
    scrub_unfinished,
)

# Real DuckDB errors on a planted value, and the value each must not show.
PLANTED = [
    ("SELECT CAST('Jane Doe' AS INTEGER)", "Jane Doe", "Conversion Error"),
    ("SELECT CAST(5551234567 AS INTEGER)", "5551234567", "Conversion Error"),
    ("SELECT CAST('1961-13-45' AS DATE)", "1961-13-45", "Conversion Error"),
    ("CREATE TABLE t (id VARCHAR PRIMARY KEY); INSERT INTO t VALUES ('078051120'), ('078051120')",
     "078051120", "Constraint Error"),
    ("SELECT CAST('123-45-6789' AS DOUBLE)", "6789", "Conversion Error"),
    ("SELECT strptime('Jane 04/17/1961', '%Y')", "1961", "Invalid Input Error"),
    ("SELECT CAST(99999999999.5 AS DECIMAL(4,1))", "99999", "Conversion Error"),
]


def duckdb_error(sql: str) -> str:
    with pytest.raises(duckdb.Error) as raised:
        duckdb.connect().execute(sql)
    return str(raised.value)


@pytest.mark.parametrize(("sql", "value", "kind"), PLANTED)
def test_masked_keeps_what_went_wrong_and_drops_the_value(sql: str, value: str, kind: str) -> None:
    text = duckdb_error(sql)
    assert value in text  # DuckDB does quote it
    assert value not in masked(text)
    assert masked(text).startswith(f"{kind}:")
    assert error_class(text) == kind


def test_masked_keeps_line_numbers_and_drops_later_lines() -> None:
    text = "Invalid Input Error: CSV Error on Line: 123456\nOriginal Line: 078051120,Jane Doe"
    assert masked(text) == "Invalid Input Error: CSV Error on Line: 123456"
    assert error_class("Catalog Error: Table with name x does not exist!") == "Catalog Error"
    assert error_class("Patient 'Conversion' Error: x") == "database error"  # only DuckDB's own prefix


def test_a_failing_python_step_records_no_value(tmp_path: Path) -> None:
    """The Dagster failure carries the masked line; neither its cause nor its context is the original."""
    @asset
    @values_withheld("demo/plain")
    def plain(context: AssetExecutionContext) -> MaterializeResult:
        duckdb.connect().execute("SELECT CAST('Jane Doe' AS INTEGER)")
        return MaterializeResult()

    @asset
    @values_withheld("demo/generator")
    def generator(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        yield from ()
        duckdb.connect().execute("SELECT CAST('Jane Doe' AS INTEGER)")

    for step in (plain, generator):
        result = materialize([step], raise_on_error=False)
        failure = next(e for e in result.all_events if e.is_step_failure)
        error = failure.step_failure_data.error
        recorded = json.dumps(error.to_string() if hasattr(error, "to_string") else str(error))
        assert "Jane" not in recorded
        assert "Conversion Error: Could not convert string" in error.message
        assert error.cause is None and error.context is None
    with pytest.raises(Failure):
        values_withheld("x")(lambda: duckdb.connect().execute("SELECT CAST('Jane' AS INTEGER)"))()


# --- dbt's events: the six that quoted a planted value in a real failing build, as dbt wrote them ----

VALUE = "ZZ Jane Doe 078051120"
NODE = {"node_name": "int_reported_adverse_events__parsed", "resource_type": "model",
        "unique_id": "model.outcomes.int_reported_adverse_events__parsed", "node_status": "error"}
CONVERSION = f"Conversion Error: Could not convert string '{VALUE}' to INT32"


def event(name: str, level: str, text: str, **data: object) -> dict:
    return {"info": {"name": name, "level": level, "code": "X", "msg": text, "ts": "2026-01-01T00:00:00Z"},
            "data": data}


LEAKING = [
    event("AdapterEventDebug", "debug", f"DuckDB adapter: duckdb error: {CONVERSION}", node_info=NODE,
          base_msg=CONVERSION),
    event("CatchableExceptionOnRun", "debug", f"Runtime Error in model x\n  {CONVERSION}", node_info=NODE,
          exc=CONVERSION, exc_info=CONVERSION),
    event("NodeFinished", "debug", "Finished running node x", node_info=NODE,
          run_result={"message": CONVERSION}),
    event("MarkSkippedChildren", "debug", f"Marking all children ... Reason: {CONVERSION}",
          run_result={"message": CONVERSION}),
    event("EndRunResult", "debug", "Command end result", results=[{"message": CONVERSION}]),
    event("RunResultError", "error", f"  Runtime Error in model x\n  {CONVERSION}", node_info=NODE,
          msg=CONVERSION),
    event("SomeFutureEvent", "info", CONVERSION),  # an event dbt adds later: withheld until listed
]
SAFE = [
    event("LogModelResult", "error", "1 of 3 ERROR creating sql table model x [ERROR in 0.1s]",
          node_info=NODE, status="error", index=1, total=3),
    event("SQLQuery", "debug", "On model.x: select 1", sql="select 1"),
    event("FinishedRunningStats", "info", "Finished running 3 table models in 0.2s."),
]


def test_dbt_events_keep_structure_and_lose_error_text() -> None:
    for raw in LEAKING:
        kept = redact_event(raw)
        assert VALUE not in json.dumps(kept) and "6789" not in json.dumps(kept)
        assert kept["info"]["name"] == raw["info"]["name"] and kept["info"]["ts"] == raw["info"]["ts"]
    error_line = console_line(LEAKING[5])
    assert error_line == ("RunResultError on model int_reported_adverse_events__parsed: Conversion Error: "
                          "message withheld: dbt's error text can quote row values")
    assert console_line(LEAKING[0]) is None  # debug events are not echoed at all
    for raw in SAFE:
        assert redact_event(raw) == raw


def test_scrub_target_rewrites_dbt_log_and_run_results(tmp_path: Path) -> None:
    (tmp_path / "dbt.log").write_text("\n".join(json.dumps(e) for e in [*LEAKING, *SAFE])
                                      + f"\nTraceback: {VALUE}\n")
    results = {"results": [
        {"unique_id": NODE["unique_id"], "status": "error", "message": f"Runtime Error\n{CONVERSION}",
         "failures": None},
        {"unique_id": "test.outcomes.not_null_x.abc", "status": "fail", "message": "Got 3 results",
         "failures": 3},
        {"unique_id": "model.outcomes.ok", "status": "success", "message": "OK"},
        {"unique_id": "model.outcomes.child", "status": "skipped", "message": None},
    ]}
    (tmp_path / "run_results.json").write_text(json.dumps(results))
    scrub_target(tmp_path)
    scrub_target(tmp_path)  # idempotent: a second pass (after a killed run) changes nothing of value
    written = (tmp_path / "dbt.log").read_text() + (tmp_path / "run_results.json").read_text()
    assert VALUE not in written and (tmp_path / SCRUBBED_MARK).exists()
    kept = json.loads((tmp_path / "run_results.json").read_text())["results"]
    assert [r["status"] for r in kept] == ["error", "fail", "success", "skipped"]
    assert kept[2]["message"] == "OK"
    assert len((tmp_path / "dbt.log").read_text().splitlines()) == len(LEAKING) + len(SAFE) + 1

    # dbt rotates its log at 10 MB: the older part (dbt.log.1, .2) is scrubbed the same way
    for rotated in ("dbt.log.1", "dbt.log.2"):
        (tmp_path / rotated).write_text("\n".join(json.dumps(e) for e in LEAKING) + "\n")
    scrub_target(tmp_path)
    for rotated in ("dbt.log.1", "dbt.log.2"):
        assert VALUE not in (tmp_path / rotated).read_text()
        assert len((tmp_path / rotated).read_text().splitlines()) == len(LEAKING)

    said = build_failure("dbt_build", kept, 1)
    assert said.startswith("dbt_build: dbt failed on model int_reported_adverse_events__parsed "
                           "(error; Conversion Error), test not_null_x (fail, 3 failing rows); "
                           "1 nodes skipped downstream.")
    assert "dbt exited with code 2 before building any node" in build_failure("dbt_build", [], 2)


def test_a_live_dbt_call_of_another_deployment_is_not_scrubbed(tmp_path: Path) -> None:
    """Deployments on one machine share dbt/target: a step scrubs the folders killed calls left,
    never one whose call still runs in another process (it holds the folder's lock)."""
    live, killed = tmp_path / "dbt_build-aaaaaaa-1111111", tmp_path / "dbt_build-bbbbbbb-2222222"
    killed.mkdir()
    hold = ("import sys, pathlib\nfrom pipelines.transform.dbt_output import running_call\n"
            "with running_call(pathlib.Path(sys.argv[1])):\n"
            "    print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(live)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for folder in (live, killed):
            (folder / "dbt.log").write_text(json.dumps(LEAKING[0]) + "\n")
        scrub_unfinished(tmp_path, "dbt_build")
        assert (killed / SCRUBBED_MARK).exists() and VALUE not in (killed / "dbt.log").read_text()
        assert not (live / SCRUBBED_MARK).exists()  # its own step scrubs it when the call ends
    finally:
        holder.communicate("", timeout=60)
    scrub_unfinished(tmp_path, "dbt_build")  # the call ended without scrubbing (killed): now it is
    assert (live / SCRUBBED_MARK).exists() and VALUE not in (live / "dbt.log").read_text()
    with running_call(live):  # in its own process the lock is held, not refused
        assert (live / ".running").exists()
