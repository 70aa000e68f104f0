"""The monthly report: rendered from a hand-made published file and from a real run, printed by chromium.

The hand-made file has only the schemas the report may read (reporting, reference, meta): a
query against `marts` would fail. Its reporting tables are suppressed by a small copy of the
rule (counts 1-10 hidden; one more site cell hidden when the hidden ones could be recovered
from the ALL total), with three sites: S001 large, S003 medium (hidden as the complement),
S002 small.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pypdfium2
import pytest
from dagster import AssetKey, DagsterInstance

from pipelines.cli import main
from pipelines.publish.report.asset import (
    REPORT_KEY,
    fingerprint_path,
    report_paths,
    write_report,
    write_reports,
)
from pipelines.publish.report.data import RULES, SYNTHETIC_TEXT, add_months, read_report_data
from pipelines.publish.report.editions import EXTERNAL as EXTERNAL_EDITION
from pipelines.publish.report.editions import INTERNAL, INTERNAL_TEXT
from pipelines.publish.report.pdf import ENV_CHROMIUM, ChromiumMissing, chromium_path
from pipelines.publish.report.render import SmallCellError, count_cell, render_html
from pipelines.publish.report.render import month_name as month_name_of
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.settings import PROJECT_ROOT
from pipelines.transform.project import dbt_var
from tests.conftest import TinyBuild, read_build

MONTH = "2025-06"
SITES = {"S001": 1.0, "S003": 0.35, "S002": 0.03}  # relative size; S002 is below the threshold
SEEDS = PROJECT_ROOT / "dbt" / "seeds"
Z = 1.959963984540054

COUNT_SPAN = re.compile(r'<span class="count(?P<cls>[^"]*)"[^>]*>(?P<text>.*?)</span>', re.S)
EXTERNAL = re.compile(r"https?://|(?:src|href)\s*=\s*[\"']?\s*//|url\(\s*[\"']?\s*(?:https?:)?//|@import",
                      re.I)


def wilson(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def suppress(rows: list[dict[str, Any]], keys: list[str], counts: list[str],
             derived: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The reporting rule in miniature: primary 1-10, one complementary site cell, derived follow."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    for group in groups.values():
        has_total = any(r.get("site_id") == "ALL" for r in group)
        for count in counts:
            for row in group:
                row.setdefault("_hidden", set())
                if row[count] is not None and 1 <= row[count] <= 10:
                    row["_hidden"].add(count)
            sites = [r for r in group if r.get("site_id") != "ALL"]
            primary = [r for r in sites if count in r["_hidden"]]
            total_hidden = any(count in r["_hidden"] for r in group if r.get("site_id") == "ALL")
            if has_total and primary and not total_hidden and \
                    (len(primary) == 1 or sum(r[count] for r in primary) <= 10):
                candidates = sorted((r for r in sites if count not in r["_hidden"] and r[count] > 10),
                                    key=lambda r: (r[count], r["site_id"]))
                if candidates:
                    candidates[0]["_hidden"].add(count)
    for row in rows:
        hidden = row.pop("_hidden")
        cells = [c for c in counts if c in hidden]
        cells += [c for c, sources in derived.items() if any(s in hidden for s in sources)]
        for cell in cells:
            row[cell] = None
        row["suppressed_cells"] = cells
    return rows


def _with_all(rows: list[dict[str, Any]], keys: list[str], counts: list[str]) -> list[dict[str, Any]]:
    totals: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        total = totals.setdefault(key, {**{k: row[k] for k in keys}, "site_id": "ALL",
                                        **dict.fromkeys(counts, 0)})
        for count in counts:
            total[count] += row[count]
    return rows + list(totals.values())


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
            rows: Iterable[dict[str, Any]]) -> None:
    """Create and fill a table from dicts, through a JSON file (executemany is slow in DuckDB)."""
    file = Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0]) / f"{table}.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("\n".join(json.dumps({c: r.get(c) for c in columns}, default=str) for r in rows))
    spec = ", ".join(f"'{c}': '{t}'" for c, t in columns.items())
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_json('{file}', format = 'newline_delimited', "
                f"columns = {{{spec}}})")
    file.unlink()


def months_back(last: date, n: int) -> list[date]:
    return [add_months(last, -i) for i in range(n - 1, -1, -1)]


def write_published(path: Path, month: str = MONTH, seed: int = 5) -> Path:
    """A published warehouse file made by hand: reporting tables, the real reference seeds, meta.build."""
    rng = random.Random(seed)
    last = date.fromisoformat(f"{month}-01")
    con = duckdb.connect(str(path))
    for schema in ("reporting", "reference", "meta"):
        con.execute(f"CREATE SCHEMA {schema}")
    for seed_file in SEEDS.glob("*.csv"):
        con.execute(f"CREATE TABLE reference.{seed_file.stem} AS SELECT * FROM read_csv_auto('{seed_file}')")
    # the rules the dbt rules model would publish: the vars of dbt_project.yml
    con.execute("CREATE TABLE reference.rules (rule VARCHAR, value DOUBLE, description VARCHAR)")
    con.executemany("INSERT INTO reference.rules VALUES (?, ?, 'test')",
                    [(rule, float(dbt_var(rule))) for rule in RULES.values()])
    con.execute("CREATE TABLE meta.build AS SELECT 'b7e1c0de-0000-4000-8000-000000000001' AS build_id, "
                "TIMESTAMP '2025-07-01 06:12:00' AS built_at, 'test-run' AS dagster_run_id, "
                "['2025-04', '2025-05', '2025-06']::VARCHAR[] AS months")

    measures = {
        "PCL5": {"response": .62, "remission": .38, "meaningful_improvement": .55, "deterioration": .03},
        "PHQ9": {"response": .50, "remission": .26, "deterioration": .04, "item9_worsened": .05},
        "GAD7": {"response": .45, "remission": .22},
    }
    cohorts = months_back(last, 14)
    rates, infusions, trajectories = [], [], []
    for cohort in cohorts:
        for site, size in SITES.items():
            for instrument, rules in measures.items():
                eligible = max(0, round(rng.gauss(40, 4) * size * (0.6 if instrument == "GAD7" else 1)))
                missing = round(eligible * 0.2)
                for measure, share in rules.items():
                    met = min(eligible, round(eligible * rng.uniform(share * .8, share * 1.2)))
                    rates.append({"cohort_month": cohort, "site_id": site, "instrument": instrument,
                                  "measure": measure, "n_eligible": eligible, "n_met": met,
                                  "n_missing_endpoint": missing})
                if instrument == "GAD7":
                    continue
                for k in range(1, 7):
                    assessed = round(eligible * (0.9 - 0.04 * k))
                    responders = round(assessed * min(.95, .25 + .08 * k))
                    infusions.append({"cohort_month": cohort, "site_id": site, "instrument": instrument,
                                      "infusion_number": k, "n_assessed": assessed,
                                      "n_responders": responders})
                for t in range(7):
                    trajectories.append({"cohort_month": cohort, "site_id": site, "instrument": instrument,
                                         "timepoint": t, "n_courses": round(eligible * (1 - 0.03 * t)),
                                         "_start": 49 if instrument == "PCL5" else 17})
    rates = _with_all(rates, ["cohort_month", "instrument", "measure"],
                      ["n_eligible", "n_met", "n_missing_endpoint"])
    for row in rates:
        row["rate"], row["ci_low"], row["ci_high"] = wilson(row["n_met"], row["n_eligible"])
    # One network cohort whose remission count is small: a gap in the trend.
    for row in rates:
        if row["cohort_month"] == cohorts[6] and row["site_id"] == "ALL" and row["instrument"] == "PHQ9" \
                and row["measure"] == "remission":
            row["n_met"] = 7
    suppress(rates, ["cohort_month", "instrument", "measure"], ["n_eligible", "n_met", "n_missing_endpoint"],
             {"rate": ["n_eligible", "n_met"], "ci_low": ["n_eligible", "n_met"],
              "ci_high": ["n_eligible", "n_met"]})
    _insert(con, "reporting.response_rates",
            {"cohort_month": "DATE", "site_id": "VARCHAR", "instrument": "VARCHAR", "measure": "VARCHAR",
             "n_eligible": "INTEGER", "n_met": "INTEGER", "n_missing_endpoint": "INTEGER", "rate": "DOUBLE",
             "ci_low": "DOUBLE", "ci_high": "DOUBLE", "suppressed_cells": "VARCHAR[]"}, rates)

    infusions = _with_all(infusions, ["cohort_month", "instrument", "infusion_number"],
                          ["n_assessed", "n_responders"])
    for row in infusions:
        row["rate"], row["ci_low"], row["ci_high"] = wilson(row["n_responders"], row["n_assessed"])
    suppress(infusions, ["cohort_month", "instrument", "infusion_number"], ["n_assessed", "n_responders"],
             {c: ["n_assessed", "n_responders"] for c in ("rate", "ci_low", "ci_high")})
    _insert(con, "reporting.response_by_infusion",
            {"cohort_month": "DATE", "site_id": "VARCHAR", "instrument": "VARCHAR",
             "infusion_number": "INTEGER", "n_assessed": "INTEGER", "n_responders": "INTEGER",
             "rate": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE", "suppressed_cells": "VARCHAR[]"},
            infusions)

    starts = {(r["cohort_month"], r["instrument"]): r.pop("_start") for r in trajectories}
    trajectories = _with_all(trajectories, ["cohort_month", "instrument", "timepoint"], ["n_courses"])
    for row in trajectories:
        start = starts[(row["cohort_month"], row["instrument"])]
        mean = start * (1 - 0.07 * row["timepoint"]) + rng.uniform(-1, 1)
        half = Z * start * 0.3 / math.sqrt(max(row["n_courses"], 1))
        row.update(mean_score=mean, ci_low=mean - half, ci_high=mean + half)
    suppress(trajectories, ["cohort_month", "instrument", "timepoint"], ["n_courses"],
             {c: ["n_courses"] for c in ("mean_score", "ci_low", "ci_high")})
    _insert(con, "reporting.score_trajectories",
            {"cohort_month": "DATE", "site_id": "VARCHAR", "instrument": "VARCHAR", "timepoint": "INTEGER",
             "n_courses": "INTEGER", "mean_score": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE",
             "suppressed_cells": "VARCHAR[]"}, trajectories)

    terms = {"dissociation": .22, "nausea": .12, "dizziness": .15, "headache": .06, "sedation": .05,
             "hypertension": .04, "anxiety": .03, "vomiting": .02, "tachycardia": .01, "hallucination": .004,
             "bradycardia": 0.0}
    months = months_back(last, 24)
    control, events, safety = [], [], []
    for m in months:
        for site, size in SITES.items():
            sessions = max(4, round(rng.gauss(260, 15) * size))
            share = 0.62 if m == last and site == "S001" else 0.33  # a signal this month
            with_any = round(sessions * rng.uniform(share - .03, share + .03))
            control.append({"month": m, "site_id": site, "n_sessions": sessions,
                            "n_sessions_with_any_ae": with_any})
            for term, share_term in terms.items():
                events.append({"month": m, "site_id": site, "ae_term": term, "n_sessions": sessions,
                               "n_sessions_with_event": round(sessions * share_term),
                               "n_grade_3_plus": round(sessions * share_term * .12),
                               "n_serious": 0,
                               "n_stopped_early_for_event": round(sessions * share_term * .08)})
            for reason, share_reason in {"grade_3_plus": .06, "serious": 0.0, "item9_rise": .045,
                                         "any": .1}.items():
                safety.append({"month": m, "site_id": site, "reason": reason,
                               "n_sessions": round(sessions * share_reason)})
    control = _with_all(control, ["month"], ["n_sessions", "n_sessions_with_any_ae"])
    events += [{"month": r["month"], "site_id": r["site_id"], "ae_term": "any", "n_sessions": r["n_sessions"],
                "n_sessions_with_event": r["n_sessions_with_any_ae"], "n_grade_3_plus": 0, "n_serious": 0,
                "n_stopped_early_for_event": 0} for r in control if r["site_id"] != "ALL"]
    history: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(control, key=lambda r: r["month"]):
        past = history.setdefault(row["site_id"], [])[-12:]
        row["p"] = row["n_sessions_with_any_ae"] / row["n_sessions"]
        if past:
            p_bar = sum(r["n_sessions_with_any_ae"] for r in past) / sum(r["n_sessions"] for r in past)
            sigma = math.sqrt(p_bar * (1 - p_bar) / row["n_sessions"])
            row.update(p_bar=p_bar, ucl=p_bar + 3 * sigma, lcl=max(0.0, p_bar - 3 * sigma))
            row["signal"] = not row["lcl"] <= row["p"] <= row["ucl"]
        history[row["site_id"]].append(row)
    suppress(control, ["month"], ["n_sessions", "n_sessions_with_any_ae"],
             {c: ["n_sessions", "n_sessions_with_any_ae"] for c in ("p", "p_bar", "ucl", "lcl", "signal")})
    _insert(con, "reporting.ae_control_chart",
            {"month": "DATE", "site_id": "VARCHAR", "n_sessions": "INTEGER",
             "n_sessions_with_any_ae": "INTEGER", "p": "DOUBLE", "p_bar": "DOUBLE", "ucl": "DOUBLE",
             "lcl": "DOUBLE", "signal": "BOOLEAN", "suppressed_cells": "VARCHAR[]"}, control)

    event_counts = ["n_sessions", "n_sessions_with_event", "n_grade_3_plus", "n_serious",
                    "n_stopped_early_for_event"]
    events = _with_all(events, ["month", "ae_term"], event_counts)
    for row in events:
        if row["n_sessions"]:
            rate, low, high = wilson(row["n_sessions_with_event"], row["n_sessions"])
            row.update(rate_per_100_sessions=100 * rate, ci_low=100 * low, ci_high=100 * high)
    suppress(events, ["month", "ae_term"], event_counts,
             {c: ["n_sessions", "n_sessions_with_event"]
              for c in ("rate_per_100_sessions", "ci_low", "ci_high")})
    _insert(con, "reporting.adverse_events",
            {"month": "DATE", "site_id": "VARCHAR", "ae_term": "VARCHAR", "n_sessions": "INTEGER",
             "n_sessions_with_event": "INTEGER", "rate_per_100_sessions": "DOUBLE", "ci_low": "DOUBLE",
             "ci_high": "DOUBLE", "n_grade_3_plus": "INTEGER", "n_serious": "INTEGER",
             "n_stopped_early_for_event": "INTEGER", "suppressed_cells": "VARCHAR[]"}, events)

    safety = suppress(_with_all(safety, ["month", "reason"], ["n_sessions"]), ["month", "reason"],
                      ["n_sessions"], {})
    _insert(con, "reporting.safety_signal_counts",
            {"month": "DATE", "site_id": "VARCHAR", "reason": "VARCHAR", "n_sessions": "INTEGER",
             "suppressed_cells": "VARCHAR[]"}, safety)

    accounting, reasons = [], []
    for m in months[-3:]:
        key = m.strftime("%Y-%m")
        for export, scale in (("sessions", 1), ("vitals", 9), ("questionnaires", 4)):
            read = round(scale * 420 * rng.uniform(.95, 1.05))
            quarantined = 0 if export == "vitals" else round(read * .04)
            accounting.append({"export_month": key, "export": export, "n_files": 1, "rows_read": read,
                               "rows_loaded": read - quarantined - 3, "rows_quarantined": quarantined,
                               "rows_held": 0, "rows_malformed": 3, "duplicates_collapsed": 0})
            if quarantined:
                reasons += [{"export_month": key, "export": export, "reason": "value_out_of_range",
                             "n_rows": quarantined - 4},
                            {"export_month": key, "export": export, "reason": "unknown_site", "n_rows": 4}]
    suppress(accounting, ["export_month", "export"],
             ["rows_read", "rows_loaded", "rows_quarantined", "rows_held", "rows_malformed",
              "duplicates_collapsed"], {})  # n_files is a count of files: never suppressed
    _insert(con, "reporting.file_accounting",
            {"export_month": "VARCHAR", "export": "VARCHAR", "n_files": "INTEGER", "rows_read": "BIGINT",
             "rows_loaded": "BIGINT", "rows_quarantined": "BIGINT", "rows_held": "BIGINT",
             "rows_malformed": "BIGINT", "duplicates_collapsed": "BIGINT", "suppressed_cells": "VARCHAR[]"},
            accounting)
    suppress(reasons, ["export_month", "export", "reason"], ["n_rows"], {})
    _insert(con, "reporting.quarantine_reasons",
            {"export_month": "VARCHAR", "export": "VARCHAR", "reason": "VARCHAR", "n_rows": "BIGINT",
             "suppressed_cells": "VARCHAR[]"}, reasons)
    _write_quality_measures(con, last, rng)
    _write_durability(con, last)
    con.execute("CHECKPOINT")
    con.close()
    return path


def _write_durability(con: duckdb.DuckDBPyConnection, last: date) -> None:
    """reporting.sustained_response (network and one site, PCL-5 at 3 months, 12 cohorts) and a
    relapse curve that stops after day 120 (its later points hidden)."""
    rows = []
    for cohort in months_back(last, 12):
        closes = date.fromordinal(add_months(add_months(cohort, 1), 3).toordinal() + 42 + 30 - 1)
        for site, assessed, sustained in (("ALL", 40, 24), ("S001", 30, 18)):
            rate, low, high = wilson(sustained, assessed)
            rows.append({"cohort_month": cohort, "site_id": site, "instrument": "PCL5",
                         "months_after_endpoint": 3, "n_assessed": assessed, "n_sustained": sustained,
                         "rate": rate, "ci_low": low, "ci_high": high, "window_closes_on": closes,
                         "is_provisional": False, "suppressed_cells": []})
    _insert(con, "reporting.sustained_response",
            {"cohort_month": "DATE", "site_id": "VARCHAR", "instrument": "VARCHAR",
             "months_after_endpoint": "INTEGER", "n_assessed": "INTEGER", "n_sustained": "INTEGER",
             "rate": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE", "window_closes_on": "DATE",
             "is_provisional": "BOOLEAN", "suppressed_cells": "VARCHAR[]"}, rows)
    hidden = ["n_at_risk", "n_relapsed", "n_censored", "survival", "ci_low", "ci_high"]
    curve = [("PCL5", 0, 300, 0, 0, 1.0, None, None), ("PCL5", 60, 220, 50, 30, 0.82, 0.78, 0.86),
             ("PCL5", 120, 150, 90, 60, 0.66, 0.61, 0.71)]
    _insert(con, "reporting.relapse_survival",
            {"instrument": "VARCHAR", "days": "INTEGER", "n_at_risk": "INTEGER", "n_relapsed": "INTEGER",
             "n_censored": "INTEGER", "survival": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE",
             "suppressed_cells": "VARCHAR[]"},
            [dict(zip(["instrument", "days", "n_at_risk", "n_relapsed", "n_censored", "survival", "ci_low",
                       "ci_high"], point, strict=True), suppressed_cells=[]) for point in curve]
            + [{"instrument": "PCL5", "days": day, "suppressed_cells": hidden}
               for day in (180, 240, 300, 360)])


def _write_quality_measures(con: duckdb.DuckDBPyConnection, last: date, rng: random.Random) -> None:
    """reporting.quality_measures for 14 index months (and DMS-E periods) up to `last`, closing as the
    mart computes it. DRR-E response of the last closed cohort is made small (suppressed), so the
    report falls back to the one before; no 12-month window has closed yet at `last`."""
    rates = {("DRR-E", "follow_up"): .5, ("DRR-E", "remission"): .3, ("DRR-E", "response"): .4,
             ("CMS159", "remission"): .1, ("NQF1885", "response"): .15}
    windows = {"DRR-E": (0, 240), "CMS159": (12, 60), "NQF1885": (12, 60)}
    rows: list[dict[str, Any]] = []
    for cohort in months_back(last, 14):
        month_end = date.fromordinal(add_months(cohort, 1).toordinal() - 1)
        for site, size in SITES.items():
            denominator = max(0, round(rng.gauss(40, 4) * size))
            for (measure_id, measure), share in rates.items():
                months, days = windows[measure_id]
                anchor = add_months(cohort, months) if months else cohort
                anchor_end = date.fromordinal(add_months(anchor, 1).toordinal() - 1)
                closes = date.fromordinal(anchor_end.toordinal() + days)
                rows.append({"cohort_month": cohort, "site_id": site, "measure_id": measure_id,
                             "measure": measure, "n_denominator": denominator,
                             "n_numerator": round(denominator * share), "window_closes_on": closes,
                             "_month_end": month_end})
        if cohort.month in (1, 5, 9):
            period_end = date.fromordinal(add_months(cohort, 4).toordinal() - 1)
            for site, size in SITES.items():
                denominator = max(0, round(rng.gauss(80, 4) * size))
                rows.append({"cohort_month": cohort, "site_id": site, "measure_id": "DMS-E",
                             "measure": "utilization", "n_denominator": denominator,
                             "n_numerator": round(denominator * .8), "window_closes_on": period_end})
    closing = {(r["cohort_month"], r["measure_id"], r["measure"]): r["window_closes_on"] for r in rows}
    for row in rows:
        row.pop("_month_end", None)
    rows = _with_all(rows, ["cohort_month", "measure_id", "measure"], ["n_denominator", "n_numerator"])
    end = date.fromordinal(add_months(last, 1).toordinal() - 1)
    latest_closed = max(r["cohort_month"] for r in rows if r["measure_id"] == "DRR-E"
                        and closing[(r["cohort_month"], "DRR-E", "response")] <= end)
    for row in rows:
        row["window_closes_on"] = closing[(row["cohort_month"], row["measure_id"], row["measure"])]
        row["is_provisional"] = row["window_closes_on"] > end
        row["adapted_from"] = f"adapted from {row['measure_id']} (test)"
        row["exclusions_not_applied"] = "bipolar disorder (test)"
        row["age_note"] = "18 and older (test)"
        if (row["cohort_month"], row["measure_id"], row["measure"], row["site_id"]) == \
                (latest_closed, "DRR-E", "response", "ALL"):
            row["n_numerator"] = 9
        row["rate"], row["ci_low"], row["ci_high"] = wilson(row["n_numerator"], row["n_denominator"])
    suppress(rows, ["cohort_month", "measure_id", "measure"], ["n_denominator", "n_numerator"],
             {c: ["n_denominator", "n_numerator"] for c in ("rate", "ci_low", "ci_high")})
    _insert(con, "reporting.quality_measures",
            {"cohort_month": "DATE", "site_id": "VARCHAR", "measure_id": "VARCHAR", "measure": "VARCHAR",
             "n_denominator": "INTEGER", "n_numerator": "INTEGER", "rate": "DOUBLE", "ci_low": "DOUBLE",
             "ci_high": "DOUBLE", "window_closes_on": "DATE", "is_provisional": "BOOLEAN",
             "adapted_from": "VARCHAR", "exclusions_not_applied": "VARCHAR", "age_note": "VARCHAR",
             "suppressed_cells": "VARCHAR[]"}, rows)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_published(tmp_path_factory.mktemp("report") / "outcomes.duckdb")


@pytest.fixture(scope="module")
def report_html(published: Path) -> str:
    with duckdb.connect(str(published), read_only=True) as con:
        return render_html(read_report_data(con, MONTH))


def assert_publishable(html: str) -> list[str]:
    """No external reference of any kind, and no count of 1-10 in a count span; returns the span texts."""
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    for tag in ("<script", "<link", "<img", "<iframe", "<object", "<embed"):
        assert tag not in html.lower()
    for value in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, re.I):
        assert value.startswith("#"), value
    for value in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html, re.I):
        assert value.startswith("#"), value
    texts = []
    for span in COUNT_SPAN.finditer(html):
        text = span["text"]
        digits = re.sub(r"[,\s]", "", text)
        if "suppressed" in span["cls"]:
            assert not re.search(r"\d", text), span[0]
        elif digits.isdigit():
            assert not 1 <= int(digits) <= 10, span[0]
        else:
            assert "nodata" in span["cls"], span[0]
        texts.append(text)
    return texts


def test_only_a_synthetic_build_carries_the_banner(report_html: str, tmp_path: Path) -> None:
    """meta.build.synthetic (a build made from generated exports) puts the banner on the report."""
    assert "synthetic-banner" not in report_html.split("</style>")[1]  # an older build: no such column
    path = write_published(tmp_path / "synthetic.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE meta.build ADD COLUMN synthetic BOOLEAN DEFAULT true")
        html = render_html(read_report_data(con, MONTH))
        con.execute("UPDATE meta.build SET synthetic = false")
        real = render_html(read_report_data(con, MONTH))
    assert html.count(SYNTHETIC_TEXT.split(":")[0]) == 1 and 'class="synthetic-banner"' in html
    assert "synthetic-banner" not in real.split("</style>")[1]


def test_the_hand_made_file_has_suppressed_cells_and_no_marts(published: Path) -> None:
    with duckdb.connect(str(published), read_only=True) as con:
        schemas = {r[0] for r in con.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
        hidden_s2, shown_s1 = con.execute(
            "SELECT count_if(n_sessions IS NULL AND site_id = 'S002'), "
            "count_if(n_sessions > 10 AND site_id = 'S001') FROM reporting.ae_control_chart WHERE month = ?",
            [date(2025, 6, 1)]).fetchone()
    assert schemas == {"reporting", "reference", "meta"}
    assert (hidden_s2, shown_s1) == (1, 1)


def test_html_is_self_contained_and_shows_no_small_counts(report_html: str) -> None:
    texts = assert_publishable(report_html)
    shown = [t for t in texts if re.sub(r"[,\s]", "", t).isdigit()]
    assert len(shown) > 50  # the check saw the tables, not an empty page
    assert any(len(t) >= 5 for t in shown), "thousands separators"  # e.g. 3,780 rows read
    assert "<svg" in report_html and report_html.count("<svg") >= 6


def test_suppressed_cells_show_the_marker(report_html: str) -> None:
    markers = re.findall(r'<span class="count suppressed" title="suppressed \(small cell\)">\*</span>',
                         report_html)
    assert len(markers) > 10
    assert 'class="suppressed"' in report_html  # suppressed rates and intervals too
    assert "June 2025" in report_html and "April 2025" in report_html  # report month, headline cohort


def test_the_site_table_lists_every_site_and_hides_small_counts(report_html: str) -> None:
    """One line per site with sessions in the month (no page per site): S001's sessions are shown,
    S002's (1-10) and S003's (its complement) carry the marker; a build without pooled tables says
    that no quarter can be compared rather than drawing an empty funnel."""
    table = report_html[report_html.index('<table class="sites">'):]
    table = table[:table.index("</table>")]
    lines = re.findall(r"<tr><td>(S\d{3})</td><td class=\"num\">(.*?)</td>", table, re.S)
    assert [site for site, _ in lines] == ["S001", "S002", "S003"]
    cells = dict(lines)
    assert '<span class="count">' in cells["S001"]
    assert 'class="count suppressed"' in cells["S002"] and 'class="count suppressed"' in cells["S003"]
    assert "<h3>Site S001</h3>" not in report_html and "funnel-response" not in report_html


def test_headline_figures_come_from_the_network_row_of_the_cohort_two_months_back(published: Path,
                                                                                  report_html: str) -> None:
    with duckdb.connect(str(published), read_only=True) as con:
        rate, low, high, eligible = con.execute(
            "SELECT rate, ci_low, ci_high, n_eligible FROM reporting.response_rates WHERE site_id = 'ALL' "
            "AND instrument = 'PCL5' AND measure = 'response' AND cohort_month = DATE '2025-04-01'"
        ).fetchone()
    row = re.search(r"<td>PCL-5</td><td>Response</td>(.*?)</tr>", report_html, re.S)
    assert row, "headline table row"
    assert f"{100 * rate:.1f}%" in row[1]
    assert f"{100 * low:.1f}&ndash;{100 * high:.1f}%" in row[1]
    assert f'<span class="count">{eligible:,}</span>' in row[1]


def test_standard_measures_show_closed_cohorts_only(published: Path) -> None:
    """Each standard rate shows its most recent network cohort whose windows have closed by the end
    of the report month (June 2025): DRR-E's last closed cohort is October 2024 (31 October + 240
    days = 28 June 2025; November's closes on 28 July). Its response count is small, so the row
    falls back to September and says October is suppressed. No 12-month window has closed: the
    row says so, and when the first closes (the first cohort, May 2024: 31 May 2025 + 60 days)."""
    with duckdb.connect(str(published), read_only=True) as con:
        data = read_report_data(con, MONTH)
    by_rate = {(q.measure_id, q.measure): q for q in data.quality}
    assert list(by_rate)[:5] == [("DRR-E", "follow_up"), ("DRR-E", "remission"), ("DRR-E", "response"),
                                 ("CMS159", "remission"), ("NQF1885", "response")]
    follow_up = by_rate[("DRR-E", "follow_up")]
    assert follow_up.latest_closed["cohort_month"] == date(2024, 10, 1)
    assert follow_up.latest_shown["cohort_month"] == date(2024, 10, 1)
    assert follow_up.n_open == 8  # November 2024 .. June 2025
    response = by_rate[("DRR-E", "response")]
    assert response.latest_closed["cohort_month"] == date(2024, 10, 1)
    assert response.latest_closed["rate"] is None
    assert response.latest_shown["cohort_month"] == date(2024, 9, 1)
    remission = by_rate[("CMS159", "remission")]
    assert remission.latest_closed is None and remission.latest_shown is None
    assert remission.first_closing == date(2025, 7, 30)
    assert data.quality_index_min == 10

    html = render_html(data)
    section = html[html.index('id="standard-measures"'):html.index('id="safety"')]
    assert "not certified" in section and "HEDIS DRR-E, Depression Remission or Response" in section
    assert "later: October 2024, suppressed" in section
    assert "No cohort has closed yet: the first closes on 30 July 2025." in section
    assert "Exclusions not applied" in section and "bipolar disorder, personality disorder" in section
    assert "12-17 is not applicable" in section
    assert_publishable(section)


def test_durability_shows_closed_cohorts_and_a_curve_that_stops(published: Path) -> None:
    """Sustained response: the latest cohort whose 3-month windows have closed by the end of June
    2025 (here December 2024: its windows close on 11 June, January's on 11 July); the relapse curve's
    at-risk counts until it stops, then the suppression marker."""
    with duckdb.connect(str(published), read_only=True) as con:
        data = read_report_data(con, MONTH)
    (sustained,) = data.sustained
    assert (sustained.instrument, sustained.months_after_endpoint) == ("PCL5", 3)
    assert sustained.latest_shown is sustained.latest_closed
    assert sustained.latest_closed["cohort_month"] == date(2024, 12, 1)
    assert sustained.latest_closed["window_closes_on"] == date(2025, 6, 11)
    assert sustained.n_open == 6  # January .. June 2025
    html = render_html(data)
    section = html[html.index('id="durability"'):html.index('id="safety"')]
    assert month_name_of(sustained.latest_closed["cohort_month"]) in section
    assert "60.0%" in section and 'class="chart-relapse"' in section
    texts = assert_publishable(section)
    assert [t for t in texts if t in ("300", "220", "150")] == ["300", "220", "150"]
    assert section.count("count suppressed") >= 4


def test_an_unsuppressed_small_count_stops_the_report() -> None:
    assert count_cell({"n": 0, "suppressed_cells": []}, "n", 10) == '<span class="count">0</span>'
    assert count_cell({"n": 12_345, "suppressed_cells": []}, "n", 10) == '<span class="count">12,345</span>'
    with pytest.raises(SmallCellError):
        count_cell({"n": 7, "suppressed_cells": []}, "n", 10)


def test_the_report_takes_its_rules_from_the_build(tmp_path: Path) -> None:
    """Threshold, windows and control-chart text come from the build's reference.rules: a build that
    says 24 trend months gets 24 cohorts, and one without the table is refused, not guessed."""
    path = write_published(tmp_path / "rules.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE reference.rules SET value = 24 WHERE rule = 'report_trend_months'")
        con.execute("UPDATE reference.rules SET value = 6 WHERE rule = 'control_chart_baseline_months'")
        data = read_report_data(con, MONTH)
        html = render_html(data)
        assert data.rules.trend_months == 24 and data.trend_start == add_months(data.headline_cohort, -23)
        assert "Trend: the last 24 cohort months" in html
        assert "compares each month with the 6 months before it" in html
        con.execute("DROP TABLE reference.rules")
        with pytest.raises(ValueError, match=r"reference\.rules has no small_cell_max"):
            read_report_data(con, MONTH)


def test_a_missing_chromium_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_CHROMIUM, str(tmp_path / "no-chromium"))
    with pytest.raises(ChromiumMissing, match=r"apt-get install -y chromium.*OUTCOMES_CHROMIUM"):
        chromium_path()


def test_pdf_pages_are_printed_and_not_blank(published: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / f".outcomes_{MONTH}.pdf.4194305.tmp").write_bytes(b"%PDF-1.4 killed")  # no such pid on Linux
    # the hand-made file has no marts: the external edition only
    (done,) = write_reports(published, reports, [MONTH], editions=(EXTERNAL_EDITION,))
    html_path, pdf_path = report_paths(reports, MONTH)
    assert (done.html_path, done.pdf_path) == (html_path, pdf_path)
    assert sorted(p.name for p in reports.iterdir()) == [  # no temporaries
        fingerprint_path(reports, MONTH).name, "index.html", html_path.name, pdf_path.name]
    assert f'href="{html_path.name}"' in (reports / "index.html").read_text()
    assert_publishable(html_path.read_text())
    pdf = pypdfium2.PdfDocument(str(pdf_path))
    try:
        assert len(pdf) == done.pdf_pages > 1
        for index in range(len(pdf)):
            image = pdf[index].render(scale=1.5).to_pil().convert("L")
            image.save(tmp_path / f"page_{index + 1}.png")
            dark = sum(image.histogram()[:160])  # pixels far from white
            assert dark > 0.002 * image.width * image.height, f"page {index + 1} looks blank"
    finally:
        pdf.close()


def test_a_run_renders_its_newest_month_and_others_on_demand(tiny_build: TinyBuild, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A run over three months renders the newest only (not 36 reports nobody asked for in a
    backfill); any month on demand; a month whose inputs did not change is not rendered again."""
    settings = read_build(tiny_build, monkeypatch)  # the shared run of the tiny network
    months = ["2025-01", "2025-02", "2025-03"]
    html_path, pdf_path = report_paths(settings.reports, months[-1])
    assert f"report:    {html_path}" in tiny_build.printed
    assert pdf_path.stat().st_size > 10_000
    assert_publishable(html_path.read_text())
    assert not any(path.exists() for month in months[:-1] for path in report_paths(settings.reports, month))
    with DagsterInstance.get() as instance:
        (event,) = instance.fetch_materializations(AssetKey(REPORT_KEY.path), limit=10).records
    metadata = event.asset_materialization.metadata
    assert (metadata["month"].value, metadata["rendered"].value) == (months[-1], True)
    assert metadata["pdf_path"].value == str(pdf_path) and metadata["pdf_pages"].value > 1
    internal_html, internal_pdf = report_paths(settings.reports, months[-1], INTERNAL)
    assert metadata["internal_pdf_path"].value == str(internal_pdf) and internal_html.is_file()
    assert internal_html.parent == settings.reports / "internal"
    assert INTERNAL_TEXT in internal_html.read_text() and INTERNAL_TEXT not in html_path.read_text()
    # one month on demand, from the published file: `outcomes report --month` (into a folder of its own)
    monkeypatch.setenv("OUTCOMES_REPORTS", str(tmp_path / "on_demand"))
    assert main(["report", "--month", "2025-02"]) == 0
    assert all(path.stat().st_size > 10_000 for path in report_paths(tmp_path / "on_demand", "2025-02"))
    assert main(["report", "--month", "2024-01"]) == 2
    assert "--month 2024-01: the published build holds 2025-01 .. 2025-03" in capsys.readouterr().err


def test_a_report_whose_inputs_did_not_change_is_not_rendered_again(tiny_build: TinyBuild,
                                                                     tmp_path: Path) -> None:
    published = tmp_path / PUBLISHED_NAME
    shutil.copy(tiny_build.warehouse / PUBLISHED_NAME, published)
    reports = tmp_path / "reports"
    first, internal = write_report(published, reports, "2025-02")
    assert first.rendered and first.pdf_pages > 1 and internal.rendered
    assert first.fingerprint != internal.fingerprint  # the edition is part of what a report is made of
    stamps = [path.stat().st_mtime_ns for path in report_paths(reports, "2025-02")]
    again, internal_again = write_report(published, reports, "2025-02")
    assert not internal_again.rendered
    assert not again.rendered and again.fingerprint == first.fingerprint
    assert (again.html_bytes, again.pdf_bytes, again.pdf_pages) == (first.html_bytes, first.pdf_bytes,
                                                                    first.pdf_pages)
    assert [path.stat().st_mtime_ns for path in report_paths(reports, "2025-02")] == stamps
    # A new build with the same cells: its id differs, the report is not rendered again
    with duckdb.connect(str(published)) as con:
        con.execute("UPDATE meta.build SET build_id = 'another-build', built_at = built_at + INTERVAL 1 DAY")
    assert not write_report(published, reports, "2025-02", editions=(EXTERNAL_EDITION,))[0].rendered
    # A cell the report shows changed: rendered again (and a half-written pair never counts as made)
    with duckdb.connect(str(published)) as con:
        con.execute("UPDATE reporting.file_accounting SET rows_read = rows_read + 1 WHERE export = 'vitals'")
    (changed,) = write_report(published, reports, "2025-02", editions=(EXTERNAL_EDITION,))
    assert changed.rendered and changed.fingerprint != first.fingerprint
    fingerprint_path(reports, "2025-02").unlink()
    assert write_report(published, reports, "2025-02", editions=(EXTERNAL_EDITION,))[0].rendered


def test_the_fingerprint_ignores_the_last_bits_of_a_float_but_not_a_shown_digit() -> None:
    """DuckDB's parallel aggregates differ in the last bits from build to build on the same cells."""
    from pipelines.publish.report.asset import _canonical

    assert _canonical({"ci_low": [46.93968452123099, 3]}) == _canonical({"ci_low": [46.93968452123098, 3]})
    assert _canonical({"ci_low": [46.94, 3]}) != _canonical({"ci_low": [46.93, 3]})


def test_the_report_asset_renders_the_month_its_config_names(tiny_build: TinyBuild, tmp_path: Path) -> None:
    """The UI's way to a month on demand (the launchpad's `month`), through a real materialization;
    a malformed month is one line that does not echo it."""
    from dagster import materialize

    from pipelines.publish.report.asset import monthly_report
    from pipelines.resources import Folders

    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    shutil.copy(tiny_build.warehouse / PUBLISHED_NAME, warehouse / PUBLISHED_NAME)
    folders = Folders(landing=str(tmp_path), warehouse=str(warehouse), reports=str(tmp_path / "reports"))

    def run(month: str) -> Any:
        return materialize([monthly_report], resources={"folders": folders}, raise_on_error=False,
                           run_config={"ops": {"publish__report": {"config": {"month": month}}}})

    done = run("2025-01")
    assert done.success
    (event,) = done.asset_materializations_for_node("publish__report")
    assert event.metadata["month"].value == "2025-01" and event.metadata["rendered"].value
    assert all(path.exists() for path in report_paths(tmp_path / "reports", "2025-01"))
    hostile = run("jane.doe@example.org")
    assert not hostile.success
    failure = next(e for e in hostile.all_events if e.event_type_value == "STEP_FAILURE")
    text = str(failure.step_failure_data.error)
    assert "config month: expected YYYY-MM" in text and "jane" not in text
    outside = next(e for e in run("2024-01").all_events if e.event_type_value == "STEP_FAILURE")
    assert "the published build holds 2025-01 .. 2025-03" in str(outside.step_failure_data.error)
