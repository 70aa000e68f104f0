"""Smoke test of the network benchmark: it runs end to end on a tiny network and writes valid JSON.

No timing is asserted (the machine is shared and small): only that every figure the
performance doc relies on is there, positive where it must be, and that every target has a
verdict. Two months keep it short: a one-month history and the second month as the new one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pipelines.benchmark import main
from tests.conftest import TINY

PIPELINE_STAGES = {"ingest", "validate", "gx", "transform", "publish", "report"}


@pytest.mark.slow
def test_network_benchmark_writes_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = dataclasses.replace(TINY, months=2)
    out = tmp_path / "bench"
    code = main([
        "network", "--scale", "small", "--out", str(out), "--no-full-cold", "--gx-repeat", "1",
        "--sites", str(tiny.sites), "--patients", str(tiny.patients), "--months", str(tiny.months),
        "--start-month", tiny.start_month, "--seed", str(tiny.seed),
    ])
    printed = capsys.readouterr().out
    assert code == 0, printed
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))

    assert result["machine"]["cores_logical"] >= 1 and result["machine"]["memory_bytes"] > 0
    assert result["machine"]["versions"]["dagster"] and result["machine"]["versions"]["duckdb"]
    assert result["network"]["months"] == 2 and result["network"]["rows_total"] > 0
    # Without the full cold build the floor covers the history's months, as the first target compares them.
    assert result["floor"]["seconds"] > 0 and result["floor"]["cpu_seconds"] > 0
    assert result["floor"]["rows_total"] == result["runs"]["history"]["input_rows"] > 0

    assert set(result["runs"]) == {"history", "new_month"}
    for name, run in result["runs"].items():
        assert run["success"], f"{name} run failed: see {run['log']}"
        assert run["wall_seconds"] > 0 and run["peak_rss_process_bytes"] > 0
        planned = {step["stage"] for step in run["step_list"]}
        assert planned >= PIPELINE_STAGES, f"{name}: stages {sorted(planned)}"
        for stage in planned | {"overhead"}:
            figures = run["stages"][stage]
            assert figures["seconds"] > 0 and figures["peak_rss_bytes"] > 0, (name, stage, figures)
        assert run["dbt"]["elapsed_seconds"] > 0
    assert 0 < result["runs"]["new_month"]["input_rows"] < result["network"]["rows_total"]

    gx = result["gx_vs_sql"]
    assert gx["gx_seconds"] > 0 and gx["sql_seconds"] > 0 and gx["ratio"] > 0
    assert gx["gx_peak_rss_bytes"] > 0 and gx["sql_peak_rss_bytes"] > 0
    assert all(row["counts_agree"] for row in gx["per_export"].values()), gx["per_export"]

    verdicts = {t["name"]: t["met"] for t in result["targets"]}
    assert set(verdicts) == {"cold_build_vs_floor", "new_month_vs_cold_build", "ingest_validate_vs_floor",
                             "peak_memory_per_process", "gx_vs_plain_sql"}
    assert all(isinstance(met, bool) for met in verdicts.values()), verdicts
    assert "targets:" in printed


def test_targets_are_judged_by_the_limits_of_their_scale() -> None:
    """Ingest + validate against the floor: large's limit is 2.5x, medium's (and a custom size's) 3x."""
    from pipelines.tools.bench.network import evaluate_targets

    stages = {"ingest": {"seconds": 3.0, "cpu_seconds": 3.5},
              "validate": {"seconds": 3.6, "cpu_seconds": 4.0}}
    run = {"success": True, "months": 3, "wall_seconds": 20.0, "cpu_seconds": 22.0, "stages": stages,
           "peak_rss_process_bytes": 1, "peak_rss_process": "python"}
    result = {"floor": {"seconds": 2.4, "cpu_seconds": 3.0, "months": 3},
              "runs": {"cold_build": run, "new_month": {**run, "wall_seconds": 3.0}}}
    for scale, met in (("large", False), ("medium", True), (None, True)):
        verdict = next(t for t in evaluate_targets({**result, "scale": scale})
                       if t["name"] == "ingest_validate_vs_floor")
        assert (verdict["measured"], verdict["cpu_ratio"], verdict["met"]) == (2.75, 2.5, met), scale


def test_a_cold_only_benchmark_judges_the_cold_build_and_says_what_it_did_not_measure() -> None:
    """`--cold-only` (the xl preset): no new month and no GX figures, so those targets have no
    verdict (None) and say why; the cold build and memory are judged by xl's limits."""
    from pipelines.tools.bench.network import evaluate_targets

    run = {"success": True, "months": 36, "wall_seconds": 120.0, "cpu_seconds": 130.0,
           "stages": {"ingest": {"seconds": 30.0, "cpu_seconds": 30.0}, "validate": {"seconds": 20.0}},
           "peak_rss_process_bytes": 3 * 1024**3, "peak_rss_process": "pipeline (python)"}
    verdicts = {t["name"]: t for t in evaluate_targets(
        {"floor": {"seconds": 10.0, "cpu_seconds": 15.0, "months": 36}, "runs": {"cold_build": run},
         "scale": "xl"})}
    cold = verdicts["cold_build_vs_floor"]
    assert cold["measured"] == 12.0 and cold["met"] is False  # xl's limit: 6x
    assert verdicts["peak_memory_per_process"]["met"] is True
    assert verdicts["new_month_vs_cold_build"]["met"] is None
    assert "not measured (--cold-only)" in verdicts["new_month_vs_cold_build"]["basis"]
    assert verdicts["gx_vs_plain_sql"]["met"] is None
