"""dbt on a tiny hand-made warehouse: a real `dbt build`, marts checked against numbers worked by hand.

Seven patients at two sites, courses starting in January 2025 (Monday 2025-01-06 unless noted).
PCL-5 totals (baseline -> endpoint, endpoint 14-42 days after the first session):

    P1 site A  50 -> 35   exactly 30%: response; 15 points: meaningful; 35 >= 33: no remission
    P2 site A  62 -> 44   29.0%: no response; 18 points: meaningful
    P3 site B  40 -> (incomplete form only)   eligible, missing endpoint
    P4 site B  45 -> 30   course 1 (Jan 6, Jan 8); Apr 9 is 91 days after Jan 8: course 2, baseline 50,
                          no endpoint
    P5 site A  40 -> 40   sessions Jan 6 and Apr 6, exactly 90 days apart: one course of 2 infusions
    P6 site A  33 -> 20   baseline exactly 33 is eligible; a cancelled session is not an infusion
    P7 site B  32 -> 10   baseline below 33: not eligible for response (deterioration only)

Dagster's own run of these models is tested with the pipeline; here dbt runs alone, once per module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import duckdb
import pytest
import yaml

from pipelines.contract import EXPORTS, STATUSES
from pipelines.ingest.tables import ensure_ingest_tables
from pipelines.validate.lake import sync_lake
from pipelines.validate.quarantine import ensure_validate_tables

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt"
DBT = Path(sys.executable).with_name("dbt")
JAN, APR = datetime(2025, 1, 1).date(), datetime(2025, 4, 1).date()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- The hand-made exports ------------------------------------------------------------------

# session_id, patient_id, site_id, session_start, duration_min, status, stop_reason, adverse_events, serious
SESSIONS: list[tuple[Any, ...]] = [
    ("p1_1", "P1", "A", at("2025-01-06 10:00"), 40.0, "completed", None, "hypertension:3;nausea:1", False),
    ("p1_2", "P1", "A", at("2025-01-08 10:00"), 40.0, "completed", None, None, False),
    ("p1_3", "P1", "A", at("2025-01-10 10:00"), 40.0, "completed", None, None, False),
    ("p1_4", "P1", "A", at("2025-01-13 10:00"), 40.0, "completed", None, None, False),
    ("p1_5", "P1", "A", at("2025-01-15 10:00"), 40.0, "completed", None, None, False),
    ("p1_6", "P1", "A", at("2025-01-17 10:00"), 40.0, "completed", None, None, False),
    ("p2_1", "P2", "A", at("2025-01-06 11:00"), 40.0, "completed", None, "dissociation:1", True),
    ("p2_2", "P2", "A", at("2025-01-08 11:00"), 40.0, "completed", None, None, False),
    ("p3_1", "P3", "B", at("2025-01-07 10:00"), 40.0, "completed", None, None, False),
    ("p4_1", "P4", "B", at("2025-01-06 12:00"), 40.0, "completed", None, None, False),
    ("p4_2", "P4", "B", at("2025-01-08 12:00"), 40.0, "completed", None, None, False),
    ("p4_3", "P4", "B", at("2025-04-09 12:00"), 40.0, "completed", None, None, False),
    ("p5_1", "P5", "A", at("2025-01-06 13:00"), 40.0, "completed", None, None, False),
    ("p5_2", "P5", "A", at("2025-04-06 13:00"), 40.0, "completed", None, None, False),
    ("p6_1", "P6", "A", at("2025-01-06 14:00"), 40.0, "completed", None, None, False),
    ("p6_2", "P6", "A", at("2025-01-08 14:00"), None, "cancelled", None, None, False),
    ("p6_3", "P6", "A", at("2025-01-10 14:00"), 15.0, "stopped_early", "nausea/vomiting", "vomiting:2",
     False),
    ("p7_1", "P7", "B", at("2025-01-07 11:00"), 40.0, "completed", None, None, False),
]

# session_id, measured_at, measure (name or LOINC code), value, unit
VITALS: list[tuple[Any, ...]] = [
    ("p1_1", at("2025-01-06 10:40"), "systolic_bp", 185.0, "mmHg"),  # hypertension, also reported: both
    ("p1_1", at("2025-01-06 10:40"), "diastolic_bp", 90.0, "mmHg"),
    ("p1_2", at("2025-01-08 10:20"), "8867-4", 121.0, "/min"),  # heart rate > 120 by LOINC: tachycardia
    ("p1_3", at("2025-01-10 09:29"), "spo2", 89.0, "%"),  # 31 minutes before the start: outside
    ("p1_3", at("2025-01-10 09:30"), "spo2", 90.0, "%"),  # inside, but not below 90
    ("p4_1", at("2025-01-06 12:10"), "heart_rate", 49.0, "/min"),  # bradycardia at site B
    ("p6_3", at("2025-01-10 14:15"), "systolic_bp", 179.0, "mmHg"),  # just below 180
    # bp_rise (>= 40 systolic or >= 25 diastolic over the pre-dose reading): p6_3's two pre-dose
    # readings at the start are 135 and 141; the lower counts, 179 - 135 = 44: a rise (141 would
    # give 38). p6_1 rises 35 systolic and 24 diastolic: just below both.
    ("p6_3", at("2025-01-10 14:00"), "systolic_bp", 141.0, "mmHg"),
    ("p6_3", at("2025-01-10 14:00"), "systolic_bp", 135.0, "mmHg"),
    ("p6_1", at("2025-01-06 13:50"), "systolic_bp", 130.0, "mmHg"),
    ("p6_1", at("2025-01-06 13:50"), "diastolic_bp", 80.0, "mmHg"),
    ("p6_1", at("2025-01-06 14:20"), "systolic_bp", 165.0, "mmHg"),
    ("p6_1", at("2025-01-06 14:20"), "diastolic_bp", 104.0, "mmHg"),
]


def pcl5(total: int) -> list[int]:
    """20 PCL-5 answers (0-4) adding up to `total`."""
    answers = [4] * (total // 4) + ([total % 4] if total % 4 else [])
    return answers + [0] * (20 - len(answers))


def phq9(total: int, item9: int) -> list[int]:
    """9 PHQ-9 answers (0-3) adding up to `total`, item 9 as given."""
    rest = total - item9
    answers = [3] * (rest // 3) + ([rest % 3] if rest % 3 else [])
    return answers + [0] * (8 - len(answers)) + [item9]


# response_id, patient_id, session_id, instrument, administered_at, answers (item 1..n)
FORMS: list[tuple[Any, ...]] = [
    # P1: baseline 50; after infusion 1: 40 (20%); at exactly infusion 2's start: 20 (counts for
    # neither infusion); after infusion 2: 35 (30%); endpoint day 28: 35; day 43: 10 (outside)
    ("p1_base", "P1", None, "PCL5", at("2025-01-03 09:00"), pcl5(50)),
    ("p1_after1", "P1", "p1_1", "PCL5", at("2025-01-06 16:00"), pcl5(40)),
    ("p1_at_start2", "P1", "p1_2", "PCL5", at("2025-01-08 10:00"), pcl5(20)),
    ("p1_after2", "P1", "p1_2", "PCL5", at("2025-01-09 09:00"), pcl5(35)),
    ("p1_end", "P1", None, "PCL5", at("2025-02-03 09:00"), pcl5(35)),
    ("p1_day43", "P1", None, "PCL5", at("2025-02-18 09:00"), pcl5(10)),
    # P1 PHQ-9: 10 -> 5 (exactly 50%; 5 is not < 5), item 9 0 -> 1
    ("p1_phq_base", "P1", None, "PHQ9", at("2025-01-03 09:04"), phq9(10, 0)),
    ("p1_phq_end", "P1", None, "PHQ9", at("2025-02-03 09:04"), phq9(5, 1)),
    # P2: 62; after infusion 1: 43 (30.6%: 10 x 19 = 190 >= 186); endpoint day 29: 44 (29.0%)
    ("p2_base", "P2", None, "PCL5", at("2025-01-05 09:00"), pcl5(62)),
    ("p2_after1", "P2", None, "PCL5", at("2025-01-07 09:00"), pcl5(43)),
    ("p2_end", "P2", None, "PCL5", at("2025-02-04 09:00"), pcl5(44)),
    # P3: baseline the same morning before the 10:00 start (40), not the one after it (60, which
    # is P3's after-infusion-1 score); the only endpoint form misses item 20
    ("p3_base", "P3", None, "PCL5", at("2025-01-07 09:30"), pcl5(40)),
    ("p3_after_start", "P3", "p3_1", "PCL5", at("2025-01-07 10:30"), pcl5(60)),
    ("p3_end_incomplete", "P3", None, "PCL5", at("2025-02-05 09:00"), pcl5(30)[:19]),
    # P4: course 1 45 -> 30 (day 35); course 2 baseline 50, no endpoint
    ("p4_base", "P4", None, "PCL5", at("2025-01-02 09:00"), pcl5(45)),
    ("p4_end", "P4", None, "PCL5", at("2025-02-10 09:00"), pcl5(30)),
    ("p4_base2", "P4", None, "PCL5", at("2025-04-01 09:00"), pcl5(50)),
    # P5: 40 -> 40 on day 24, before session 2 (Apr 6), so also P5's after-infusion-1 score
    ("p5_base", "P5", None, "PCL5", at("2025-01-01 09:00"), pcl5(40)),
    ("p5_end", "P5", None, "PCL5", at("2025-01-30 09:00"), pcl5(40)),
    # P6: 33 -> 20 (day 25)
    ("p6_base", "P6", None, "PCL5", at("2025-01-05 09:00"), pcl5(33)),
    ("p6_end", "P6", None, "PCL5", at("2025-01-31 09:00"), pcl5(20)),
    # P7: 32 -> 10
    ("p7_base", "P7", None, "PCL5", at("2025-01-06 09:00"), pcl5(32)),
    ("p7_end", "P7", None, "PCL5", at("2025-02-04 09:00"), pcl5(10)),
]


def write_staging(database: Path) -> None:
    """The staging schema as the validate stage creates it, with the exports above.

    raw and quarantine are created empty: dbt's data_quality models read them as sources.
    """
    loaded = datetime(2025, 6, 1)

    def lineage(export: str, moment: datetime, line: int) -> tuple[Any, ...]:
        month = moment.strftime("%Y-%m")
        return (month, f"{export}/{export}_{month}.csv", "0" * 64, line, loaded)

    con = duckdb.connect(str(database))
    try:
        ensure_ingest_tables(con)
        ensure_validate_tables(con)
        con.executemany(
            "INSERT INTO staging.sessions VALUES (?, ?, ?, 'C1', ?, 'ketamine', 'IV', 35.0, 70.0, ?, ?, ?, "
            "?, ?, '35-44', 'F', 'PTSD', ?, ?, ?, ?, ?)",
            [(*row, *lineage("sessions", row[3], i)) for i, row in enumerate(SESSIONS, 2)],
        )
        con.executemany(
            "INSERT INTO staging.vitals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row, *lineage("vitals", row[1], i)) for i, row in enumerate(VITALS, 2)],
        )
        items = [
            (rid, pid, sid, instrument, moment, item, value)
            for rid, pid, sid, instrument, moment, answers in FORMS
            for item, value in enumerate(answers, 1)
        ]
        con.executemany(
            "INSERT INTO staging.questionnaires VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row, *lineage("questionnaires", row[4], i)) for i, row in enumerate(items, 2)],
        )
        sync_whole_lake(con, database.parent)
    finally:
        con.close()


def sync_whole_lake(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """What the validate stage does after staging: the lake (dbt's input) follows staging."""
    for export in EXPORTS:
        sync_lake(con, warehouse, export)


def run_dbt(args: list[str], warehouse: Path, months: str | None = None) -> subprocess.CompletedProcess[str]:
    """The venv's dbt on the project, writing its target and logs beside the test warehouse;
    `months` is OUTCOMES_REFRESH_MONTHS, the months the incremental models refresh (None: all)."""
    env = {**os.environ, "OUTCOMES_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("OUTCOMES_REFRESH_MONTHS", None)
    if months is not None:
        env["OUTCOMES_REFRESH_MONTHS"] = months
    command = [str(DBT), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
               "--target-path", str(warehouse / "target"), "--log-path", str(warehouse / "logs")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=300)
    assert done.returncode == 0, f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh warehouse with the hand-made exports, built once with `dbt build` for the whole module."""
    folder = tmp_path_factory.mktemp("dbt_warehouse")
    write_staging(folder / "build.duckdb")
    done = run_dbt(["build"], folder)
    assert "Completed successfully" in done.stdout
    return folder


@pytest.fixture
def con(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for one test (DuckDB allows no writer while a file is open elsewhere)."""
    connection = duckdb.connect(str(warehouse / "build.duckdb"), read_only=True)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> dict[str, Any]:
    found = rows(con, sql, *params)
    assert len(found) == 1, f"expected one row, got {found}"
    return found[0]


def rate_row(con: duckdb.DuckDBPyConnection, cohort: Any, site: str, instrument: str,
             measure: str) -> dict[str, Any]:
    return one(con, "SELECT * FROM marts.response_rates WHERE cohort_month = ? AND site_id = ? "
                    "AND instrument = ? AND measure = ?", cohort, site, instrument, measure)


def assert_counts(row: dict[str, Any], **expected: Any) -> None:
    """Counts exactly, rates and interval bounds to 4 decimals (None stays None)."""
    for name, value in expected.items():
        if isinstance(value, float):
            assert row[name] == pytest.approx(value, abs=5e-5), (name, row)
        else:
            assert row[name] == value, (name, row)


# --- Tests ----------------------------------------------------------------------------------

def test_unit_tests_pass(warehouse: Path) -> None:
    done = run_dbt(["test", "--select", "test_type:unit"], warehouse)
    summary = re.search(r"PASS=(\d+) WARN=(\d+) ERROR=(\d+)", done.stdout)
    assert summary, done.stdout[-2000:]
    passed, warned, failed = (int(n) for n in summary.groups())
    assert passed >= 20 and warned == 0 and failed == 0


def test_courses_split_after_more_than_90_days(con: duckdb.DuckDBPyConnection) -> None:
    courses = {r["course_id"]: r for r in rows(con, "SELECT * FROM intermediate.courses__summarized")}
    assert sorted(courses) == ["P1-C1", "P2-C1", "P3-C1", "P4-C1", "P4-C2", "P5-C1", "P6-C1", "P7-C1"]
    assert courses["P4-C1"]["n_infusions"] == 2  # Apr 9 is 91 days after Jan 8
    assert courses["P4-C2"]["cohort_month"] == APR
    assert courses["P5-C1"]["n_infusions"] == 2  # Apr 6 is exactly 90 days after Jan 6
    assert courses["P6-C1"]["n_infusions"] == 2  # the cancelled session is not an infusion
    assert courses["P1-C1"]["n_infusions"] == 6


def test_pcl5_response_is_a_completer_rate_with_attrition_visible(con: duckdb.DuckDBPyConnection) -> None:
    # A: P1 (30%) and P6 respond, P2 (29.0%) and P5 do not: 2/4, Wilson [0.1500, 0.8500]
    assert_counts(rate_row(con, JAN, "A", "PCL5", "response"), n_eligible=4, n_met=2, n_missing_endpoint=0,
                  rate=0.5, ci_low=0.1500, ci_high=0.8500)
    # B: P4 responds (1/1, [0.2065, 1]); P3 has no complete endpoint; P7's baseline 32 is not eligible
    assert_counts(rate_row(con, JAN, "B", "PCL5", "response"), n_eligible=1, n_met=1, n_missing_endpoint=1,
                  rate=1.0, ci_low=0.2065, ci_high=1.0)
    # network: 3/5, [0.2307, 0.8824]
    assert_counts(rate_row(con, JAN, "ALL", "PCL5", "response"), n_eligible=5, n_met=3, n_missing_endpoint=1,
                  rate=0.6, ci_low=0.2307, ci_high=0.8824)
    # April cohort: P4's second course, eligible baseline, no endpoint: no rate at all
    assert_counts(rate_row(con, APR, "B", "PCL5", "response"), n_eligible=0, n_met=0, n_missing_endpoint=1,
                  rate=None, ci_low=None, ci_high=None)
    # a cohort row exists only where a course starts: P5's April session belongs to its January course
    april_sites = rows(con, "SELECT DISTINCT site_id FROM marts.response_rates WHERE cohort_month = ?", APR)
    assert sorted(r["site_id"] for r in april_sites) == ["ALL", "B"]


def test_other_pcl5_measures(con: duckdb.DuckDBPyConnection) -> None:
    # remission (< 33): only P6 (20) at A, P4 (30) at B; P1's day-43 score of 10 is outside the window
    assert_counts(rate_row(con, JAN, "A", "PCL5", "remission"), n_eligible=4, n_met=1, ci_low=0.0456,
                  ci_high=0.6994)
    assert_counts(rate_row(con, JAN, "ALL", "PCL5", "remission"), n_eligible=5, n_met=2, rate=0.4)
    # meaningful improvement (>= 10 points): P1 15, P2 18, P6 13 at A; P5 0
    assert_counts(rate_row(con, JAN, "A", "PCL5", "meaningful_improvement"), n_eligible=4, n_met=3, rate=0.75)
    # deterioration takes any complete baseline, so P7 (32) counts: 0/2 at B, 0/6 overall
    assert_counts(rate_row(con, JAN, "B", "PCL5", "deterioration"), n_eligible=2, n_met=0,
                  n_missing_endpoint=1, ci_low=0.0, ci_high=0.6576)
    assert_counts(rate_row(con, JAN, "ALL", "PCL5", "deterioration"), n_eligible=6, n_met=0, ci_high=0.3903)


def test_phq9_measures(con: duckdb.DuckDBPyConnection) -> None:
    assert_counts(rate_row(con, JAN, "A", "PHQ9", "response"), n_eligible=1, n_met=1)  # 10 -> 5, exactly 50%
    assert_counts(rate_row(con, JAN, "A", "PHQ9", "remission"), n_eligible=1, n_met=0)  # 5 is not < 5
    assert_counts(rate_row(con, JAN, "A", "PHQ9", "item9_worsened"), n_eligible=1, n_met=1)
    assert_counts(rate_row(con, JAN, "B", "PHQ9", "response"), n_eligible=0, n_met=0, rate=None)
    measures = rows(con, "SELECT DISTINCT instrument, measure FROM marts.response_rates")
    assert len(measures) == 10


def test_patient_course_outcomes(con: duckdb.DuckDBPyConnection) -> None:
    course = "SELECT * FROM marts.patient_course_outcomes WHERE course_id = ? AND instrument = ?"
    p1 = one(con, course, "P1-C1", "PCL5")
    assert_counts(p1, patient_id="P1", site_id="A", n_infusions=6, baseline_score=50, endpoint_score=35,
                  change=-15, percent_change=-30.0, response=True, remission=False,
                  meaningful_improvement=True, deterioration=False, item9_worsened=None)
    assert p1["baseline_date"] == at("2025-01-03").date() and p1["endpoint_date"] == at("2025-02-03").date()
    p2 = one(con, course, "P2-C1", "PCL5")
    assert_counts(p2, change=-18, response=False, meaningful_improvement=True)
    p3 = one(con, course, "P3-C1", "PCL5")
    assert_counts(p3, baseline_score=40, endpoint_score=None, response=None)  # baseline before the start only
    p7 = one(con, course, "P7-C1", "PCL5")
    assert_counts(p7, response=None, remission=None, deterioration=False)
    phq = one(con, course, "P1-C1", "PHQ9")
    assert_counts(phq, baseline_score=10, endpoint_score=5, percent_change=-50.0, response=True,
                  remission=False, item9_worsened=True)


def test_response_by_infusion(con: duckdb.DuckDBPyConnection) -> None:
    def cell(site: str, k: int) -> dict[str, Any]:
        return one(con, "SELECT * FROM marts.response_by_infusion WHERE cohort_month = ? AND site_id = ? "
                        "AND instrument = 'PCL5' AND infusion_number = ?", JAN, site, k)

    # after infusion 1 at A: P1 40 (20%, no), P2 43 (30.6%, yes), P5 40 (its day-24 form comes
    # before its second session, no); P1's form at exactly infusion 2's start counts for neither
    assert_counts(cell("A", 1), n_assessed=3, n_responders=1, ci_low=0.0615, ci_high=0.7923)
    assert_counts(cell("A", 2), n_assessed=1, n_responders=1, rate=1.0)  # P1 35 (30%)
    assert_counts(cell("A", 3), n_assessed=0, n_responders=0, rate=None, ci_low=None)
    assert_counts(cell("B", 1), n_assessed=1, n_responders=0, ci_low=0.0, ci_high=0.7935)  # P3 40 -> 60
    assert_counts(cell("ALL", 1), n_assessed=4, n_responders=1, ci_low=0.0456, ci_high=0.6994)
    infusions = rows(con, "SELECT DISTINCT infusion_number FROM marts.response_by_infusion ORDER BY 1")
    assert [r["infusion_number"] for r in infusions] == [1, 2, 3, 4, 5, 6]


def test_adverse_events(con: duckdb.DuckDBPyConnection) -> None:
    def cell(site: str, term: str) -> dict[str, Any]:
        return one(con, "SELECT * FROM marts.adverse_events WHERE month = ? AND site_id = ? AND ae_term = ?",
                   JAN, site, term)

    # January at A: 11 sessions given (P1 6, P2 2, P5 1, P6 2; P6's cancelled one does not count)
    assert_counts(cell("A", "hypertension"), n_sessions=11, n_sessions_with_event=1, n_grade_3_plus=1,
                  rate_per_100_sessions=9.0909)
    assert_counts(cell("A", "tachycardia"), n_sessions_with_event=1, n_grade_3_plus=0)  # derived, LOINC code
    assert_counts(cell("A", "dissociation"), n_sessions_with_event=1, n_serious=1)
    assert_counts(cell("A", "vomiting"), n_sessions_with_event=1, n_stopped_early_for_event=1)
    assert_counts(cell("A", "desaturation"), n_sessions_with_event=0)  # 89 only outside the window
    assert_counts(cell("A", "any"), n_sessions=11, n_sessions_with_event=4, rate_per_100_sessions=36.3636,
                  ci_low=15.1665, ci_high=64.6199, n_grade_3_plus=1, n_serious=1, n_stopped_early_for_event=1)
    assert_counts(cell("B", "bradycardia"), n_sessions=4, n_sessions_with_event=1)
    assert_counts(cell("ALL", "any"), n_sessions=15, n_sessions_with_event=5, ci_low=15.1763, ci_high=58.2865)
    assert_counts(cell("A", "bp_rise"), n_sessions_with_event=1)  # p6_3 (p6_1 is just below)
    terms = rows(con, "SELECT DISTINCT ae_term FROM marts.adverse_events")
    assert len(terms) == 18  # 14 controlled terms, bradycardia, desaturation, bp_rise, any

    sources = {(r["session_id"], r["ae_term"]): r for r in rows(
        con, "SELECT * FROM intermediate.adverse_events__combined")}
    assert sources[("p1_1", "hypertension")]["source"] == "both"
    assert sources[("p1_1", "hypertension")]["reported_grade"] == 3
    assert sources[("p1_1", "nausea")]["source"] == "reported"
    assert sources[("p1_2", "tachycardia")]["source"] == "derived"
    assert ("p6_3", "hypertension") not in sources  # 179 is below 180
    assert sources[("p6_3", "bp_rise")]["source"] == "derived"
    assert ("p6_1", "bp_rise") not in sources
    flagged = {r["session_id"]: r["evidence"] for r in rows(
        con, "SELECT * FROM intermediate.derived_adverse_events__flagged WHERE ae_term = 'bp_rise'")}
    assert flagged == {"p6_3": "systolic_bp rise 44.0"}


def test_control_chart(con: duckdb.DuckDBPyConnection) -> None:
    chart = {(r["month"], r["site_id"]): r for r in rows(con, "SELECT * FROM marts.ae_control_chart")}
    assert_counts(chart[(JAN, "ALL")], n_sessions=15, n_sessions_with_any_ae=5, p_bar=None, signal=None)
    # April judged against January: p_bar 5/15, ucl = 1/3 + 3 sqrt((1/3)(2/3)/2) = 1.3333, lcl floored at 0
    # one baseline month (fewer than 6): the limits are provisional and raise no signal
    assert_counts(chart[(APR, "ALL")], n_sessions=2, n_sessions_with_any_ae=0, p=0.0, p_bar=0.3333,
                  ucl=1.3333, lcl=0.0, signal=None, n_baseline_months=1, limits_provisional=True)
    assert_counts(chart[(APR, "A")], p_bar=0.3636)  # 4/11


def test_safety_signals(con: duckdb.DuckDBPyConnection) -> None:
    signals = {r["session_id"]: r for r in rows(con, "SELECT * FROM marts.safety_signals")}
    assert sorted(signals) == ["p1_1", "p1_6", "p2_1"]
    assert_counts(signals["p1_1"], signal_reasons="grade_3_plus", grade_3_plus_terms="hypertension:3")
    assert_counts(signals["p2_1"], signal_reasons="serious", has_serious_event=True)
    # P1's PHQ-9 item 9 rose from 0 to 1 on Feb 3: reviewed under P1's latest session before it
    assert_counts(signals["p1_6"], signal_reasons="item9_rise", item9_baseline=0, item9_highest=1)


@pytest.mark.slow
def test_incremental_models_replace_only_the_refresh_months(warehouse: Path, tmp_path: Path) -> None:
    """OUTCOMES_REFRESH_MONTHS names the months the incremental models replace; the others stay,
    and a refreshed month that lost all its rows is emptied (dbt's delete+insert would keep it)."""
    copy = tmp_path / "warehouse"
    copy.mkdir()
    shutil.copy(warehouse / "build.duckdb", copy / "build.duckdb")
    shutil.copytree(warehouse / "lake", copy / "lake")

    def counts(table: str = "session_vitals__aggregated") -> dict[str, int]:
        with duckdb.connect(str(copy / "build.duckdb"), read_only=True) as c:
            found = c.execute(f"SELECT session_month, count(*) FROM intermediate.{table} "
                              "GROUP BY 1").fetchall()
        return dict(found)

    assert counts() == {"2025-01": 8}  # p1_1 and p6_1 systolic and diastolic, p1_2, p1_3, p4_1, p6_3
    january_events = counts("adverse_events__combined")["2025-01"]
    with duckdb.connect(str(copy / "build.duckdb")) as c:
        c.execute("DELETE FROM staging.vitals WHERE session_id = 'p4_1'")  # a corrected January export
        sync_whole_lake(c, copy)
    # stg_vitals too: the view reads the lake by its absolute path, the original warehouse's
    model = ["build", "--select", "stg_vitals", "int_session_vitals__aggregated+2", "--exclude",
             "resource_type:test"]
    run_dbt(model, copy, months="2025-04")
    assert counts() == {"2025-01": 8}  # refreshing April leaves January alone
    run_dbt(model, copy, months="none")
    assert counts() == {"2025-01": 8}  # nothing to refresh: nothing replaced
    run_dbt(model, copy, months="2024-12,2025-01")
    assert counts() == {"2025-01": 7}  # refreshing January replaces January
    with duckdb.connect(str(copy / "build.duckdb")) as c:
        c.execute("DELETE FROM staging.vitals WHERE session_id IN (SELECT session_id FROM staging.sessions "
                  "WHERE export_month = '2025-01')")  # January's vitals retracted
        sync_whole_lake(c, copy)
    run_dbt(model, copy, months="2025-01")
    assert counts() == {}
    assert counts("adverse_events__combined")["2025-01"] < january_events  # derived events went with them


def test_refresh_months_are_checked() -> None:
    """A malformed OUTCOMES_REFRESH_MONTHS stops dbt with one line rather than building some months."""
    env = {**os.environ, "OUTCOMES_REFRESH_MONTHS": "2025-13", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    with tempfile.TemporaryDirectory() as folder:
        env["OUTCOMES_WAREHOUSE"] = folder
        write_staging(Path(folder) / "build.duckdb")
        done = subprocess.run([str(DBT), "compile", "--select", "int_session_vitals__aggregated",
                               "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
                               "--target-path", f"{folder}/target", "--log-path", f"{folder}/logs"],
                              capture_output=True, text=True, env=env, check=False, timeout=300)
    assert done.returncode != 0
    assert "OUTCOMES_REFRESH_MONTHS must list months as YYYY-MM" in done.stdout


def test_the_session_statuses_seed_lists_every_contract_status(con: duckdb.DuckDBPyConnection) -> None:
    """stg_sessions reads is_given from the seed: it must know every status the contract allows."""
    seed = dict(con.execute("SELECT status, is_given FROM reference.session_statuses").fetchall())
    assert sorted(seed) == sorted(STATUSES)
    assert seed == {"completed": True, "stopped_early": True, "cancelled": False}


def test_reference_rules_publish_the_values_the_build_used(con: duckdb.DuckDBPyConnection) -> None:
    """reference.rules holds each numeric rule once, with the value of its dbt var, and the z of
    the 95% intervals (the 0.975 normal quantile)."""
    project_vars = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    from_vars = ["small_cell_max", "control_chart_baseline_months", "control_chart_sigma",
                 "control_chart_min_baseline_months",
                 "severe_ae_grade_min", "max_infusion_reported", "report_headline_lag_months",
                 "report_trend_months", "report_pchart_months", "relapse_survival_step_days",
                 "relapse_survival_max_days"]
    published = {r["rule"]: r for r in rows(con, "SELECT * FROM reference.rules")}
    assert sorted(published) == sorted([*from_vars, "z_975"])
    assert {name: published[name]["value"] for name in from_vars} == {name: float(project_vars[name])
                                                                      for name in from_vars}
    assert published["z_975"]["value"] == pytest.approx(NormalDist().inv_cdf(0.975), abs=1e-12)
    assert all(len(r["description"]) > 40 for r in published.values())
