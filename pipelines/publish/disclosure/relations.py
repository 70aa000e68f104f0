"""What each published `reporting` table means to an outsider, and the attack on all of them.

Small-cell suppression (CMS cell size suppression policy, clinical-definitions.md) hides counts
of 1-10, and no hidden cell may be derivable from anything else that is published. This module
plays the outsider: it reads only the `reporting` tables of a published file, writes down every
relation between published numbers that a reader can know from the documentation
(docs/querying.md), and asks an integer program (scipy's `milp`, HiGHS) for the smallest and
largest value each hidden cell can take. A hidden cell is disclosed when the relations pin it
to one value, or to a range inside 1-10.

The relations are this module's own description of what each published column means, written
independently of the suppression macro, so that a column the macro forgets is still attacked:
  - sums: every `ALL` row is the sum of its site rows;
  - the same count repeated (sessions per month and site in adverse_events for every term, in
    ae_control_chart and as safety_signal_counts.n_sessions_given; courses assessed after
    infusion k in response_by_infusion and score_trajectories);
  - parts never exceed their whole (events <= sessions, grade 3+ <= events, a term <= `any`,
    responders <= assessed, held + malformed <= quarantined, ...);
  - data-quality accounting: rows_read = loaded + quarantined + collapsed, the `malformed_line`
    reason is the malformed count, quarantine reasons cover the quarantined rows;
  - the standard measures' denominators shared by their rates and their nested numerators; assessed
    responders at a durability checkpoint never above the responders; the relapse curve's
    cumulative counts never falling, and its shown steps never a count of 1-10;
  - derived numbers: a rate times its denominator is its numerator, a Wilson interval gives
    back its numerator and denominator, a control limit gives back its month's sessions, a
    trailing p_bar times the pooled sessions is the pooled events, a signal bounds the events.
Besides solving, the policy that no derived value is shown beside a hidden input of its own
row is checked, and every numeric column of `reporting` must be known here: a new published
number fails until its relations are written down.

The publish step runs this attack on every build before it is swapped in
(pipelines/publish/disclosure/gate.py), and the tests run it on their builds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date

import duckdb

from pipelines.publish.disclosure.solver import (
    SMALL_CELL_MAX,
    TOLERANCE,
    Attack,
    Finding,
    Quantity,
)
from pipelines.transform.project import dbt_var

TRAILING_MONTHS = int(dbt_var("control_chart_baseline_months"))  # the months p_bar pools
# the reasons a held row carries (docs: rows_held of data_quality.file_accounting): orphans, and
# rows whose session or patient a corrected or retracted sessions file removed
ORPHAN_REASONS = ("session_id.orphan", "patient_id.orphan",
                  "session_id.removed_by_correction", "patient_id.removed_by_correction")
MALFORMED_REASON = "malformed_line"
# The pooled counts' quantities, which the publish step may withhold (gate.py):
RESPONSE_POOL = "response_rates_by_period"  # (tag, period_type, period_start, instrument, measure, site,
#                                             count)
AE_POOL = "ae_pool"  # (tag, period_type, period_start, site, term, count)
AE_POOL_SESSIONS = "pooled_sessions"  # (tag, period_type, period_start, site): every term's row
DATA_QUALITY_COUNTS = (
    "n_files",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "duplicates_collapsed",
    "rows_held",
    "rows_malformed",
)



def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[dict[str, object]]:
    cursor = con.execute(f"SELECT * FROM reporting.{table}")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _where(table: str, row: dict[str, object], keys: list[str], column: str) -> str:
    return f"reporting.{table}.{column}[" + ", ".join(str(row[k]) for k in keys) + "]"


def _site_sums(attack: Attack, groups: dict[tuple, dict[str, Quantity]], why: str) -> None:
    """Per group of rows that differ only in site: the ALL quantity is the sum of the sites'."""
    for sites in groups.values():
        if "ALL" in sites:
            attack.equal_sum(sites["ALL"], [q for s, q in sites.items() if s != "ALL"], why)


def attack_adverse_events(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["month", "site_id", "ae_term"]
    counts = ("n_sessions_with_event", "n_grade_3_plus", "n_serious", "n_stopped_early_for_event")
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    rows = _rows(con, "adverse_events")
    for row in rows:
        month, site, term = row["month"], row["site_id"], row["ae_term"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("adverse_events", row, keys, column)

        sessions = attack.count(("sessions", month, site), row["n_sessions"], at("n_sessions"))
        sums[("sessions", month)][site] = sessions
        quantities = {c: attack.count(("ae", month, site, term, c), row[c], at(c)) for c in counts}
        for c, q in quantities.items():
            sums[("ae", month, term, c)][site] = q
        events = quantities["n_sessions_with_event"]
        attack.at_most(events, sessions, "events <= sessions")
        for c in counts[1:]:
            attack.at_most(quantities[c], events, f"{c} <= sessions with the event")
            if term != "any":
                attack.at_most(quantities[c], ("ae", month, site, "any", c), f"{c} of a term <= of any")
        if term != "any":
            attack.at_most(events, ("ae", month, site, "any", "n_sessions_with_event"), "a term <= any")
        attack.rate_with_interval(
            row,
            at,
            "n_sessions_with_event",
            "n_sessions",
            (events, sessions),
            rate="rate_per_100_sessions",
            scale=100.0,
        )
    _site_sums(attack, sums, "ALL = sum of sites (adverse_events)")


def attack_ae_control_chart(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["month", "site_id"]
    rows = _rows(con, "ae_control_chart")
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    by_site: dict[str, dict[date, tuple[Quantity, Quantity]]] = defaultdict(dict)
    centre_lines: list[tuple[str, date, float]] = []
    for row in rows:
        month, site = row["month"], row["site_id"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("ae_control_chart", row, keys, column)

        sessions = attack.count(("sessions", month, site), row["n_sessions"], at("n_sessions"))
        events = attack.count(
            ("ae", month, site, "any", "n_sessions_with_event"),
            row["n_sessions_with_any_ae"],
            at("n_sessions_with_any_ae"),
        )
        sums[("sessions", month)][site] = sessions
        sums[("any", month)][site] = events
        by_site[site][month] = (sessions, events)
        attack.at_most(events, sessions, "events <= sessions")
        both = {"n_sessions": row["n_sessions"], "n_sessions_with_any_ae": row["n_sessions_with_any_ae"]}
        attack.derived_beside_hidden(at("p"), "p", row["p"], both)
        attack.derived_beside_hidden(at("ucl"), "ucl", row["ucl"], {"n_sessions": row["n_sessions"]})
        attack.derived_beside_hidden(at("lcl"), "lcl", row["lcl"], {"n_sessions": row["n_sessions"]})
        attack.derived_beside_hidden(at("signal"), "signal", row["signal"], {**both, "p": row["p"]})
        if row["p"] is not None:
            attack.ratio(row["p"], events, sessions, 1.0, at("p"))
        p_bar = row["p_bar"]
        if p_bar is None and row["ucl"] is not None and row["lcl"] not in (None, 0.0):
            p_bar = (row["ucl"] + row["lcl"]) / 2  # symmetric limits give the centre line back
        if p_bar is not None and row["ucl"] is not None and 0 < p_bar < 1 and row["ucl"] > p_bar:
            # ucl - p_bar = 3 sqrt(p_bar (1 - p_bar) / n)  =>  n = 9 p_bar (1 - p_bar) / (ucl - p_bar)^2
            n = 9 * p_bar * (1 - p_bar) / (row["ucl"] - p_bar) ** 2
            attack.relate({sessions: 1.0}, n - 1e-4 * max(1, n), n + 1e-4 * max(1, n), f"ucl at {at('ucl')}")
        if row["signal"] is not None and row["ucl"] is not None:
            if row["signal"]:  # p > ucl
                attack.relate({events: 1.0, sessions: -row["ucl"]}, 0, math.inf, f"signal at {at('signal')}")
            else:
                attack.relate(
                    {events: 1.0, sessions: -row["ucl"]}, -math.inf, TOLERANCE, f"signal at {at('signal')}"
                )
        if p_bar is not None:
            centre_lines.append((site, month, p_bar))
    for site, month, p_bar in centre_lines:
        # p_bar = pooled events / pooled sessions over the 12 months before: linear, p_bar is known
        terms: dict[Quantity, float] = defaultdict(float)
        for pooled_month, (sessions, events) in by_site[site].items():
            if _months_before(pooled_month, month):
                terms[sessions] += p_bar
                terms[events] -= 1.0
        attack.relate(
            terms, -TOLERANCE * 10, TOLERANCE * 10, f"p_bar at reporting.ae_control_chart[{month}, {site}]"
        )
    _site_sums(attack, sums, "ALL = sum of sites (ae_control_chart)")


def _months_before(month: date, this_month: date) -> bool:
    """month lies in the 12 calendar months before this_month."""
    distance = (this_month.year - month.year) * 12 + this_month.month - month.month
    return 1 <= distance <= TRAILING_MONTHS


def attack_response_rates(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "instrument", "measure"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "response_rates"):
        group = (row["cohort_month"], row["instrument"], row["measure"])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("response_rates", row, keys, column)

        q = {
            c: attack.count(("response_rates", *group, row["site_id"], c), row[c], at(c))
            for c in ("n_eligible", "n_met", "n_missing_endpoint")
        }
        for c, quantity in q.items():
            sums[(*group, c)][row["site_id"]] = quantity
        attack.at_most(q["n_met"], q["n_eligible"], "met <= eligible")
        attack.rate_with_interval(row, at, "n_met", "n_eligible", (q["n_met"], q["n_eligible"]))
    _site_sums(attack, sums, "ALL = sum of sites (response_rates)")


# The standard measures' published rules (docs/querying.md, the quality_measure_rates seed): all
# index-event rates of a cohort month and site count the same index events; a remission (< 5 from
# an index score > 9) is a fall of more than 50%, so every remitter is a responder; a response
# needs a follow-up score.
QUALITY_INDEX_MEASURES = ("DRR-E", "CMS159", "NQF1885")
QUALITY_NESTED = (
    (("DRR-E", "remission"), ("DRR-E", "response")),
    (("DRR-E", "response"), ("DRR-E", "follow_up")),
    (("CMS159", "remission"), ("NQF1885", "response")),
)


def attack_quality_measures(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "measure_id", "measure"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    rates: dict[tuple, dict[tuple[str, str], Quantity]] = defaultdict(dict)
    for row in _rows(con, "quality_measures"):
        cohort, site, rate = row["cohort_month"], row["site_id"], (row["measure_id"], row["measure"])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("quality_measures", row, keys, column)

        population = "index_events" if rate[0] in QUALITY_INDEX_MEASURES else rate
        denominator = attack.count(
            ("quality_denominator", population, cohort, site), row["n_denominator"], at("n_denominator")
        )
        numerator = attack.count(
            ("quality_numerator", *rate, cohort, site), row["n_numerator"], at("n_numerator")
        )
        sums[("quality_denominator", population, cohort)][site] = denominator
        sums[("quality_numerator", *rate, cohort)][site] = numerator
        rates[(cohort, site)][rate] = numerator
        attack.at_most(numerator, denominator, "numerator <= denominator")
        attack.rate_with_interval(row, at, "n_numerator", "n_denominator", (numerator, denominator))
    for cell in rates.values():
        for part, whole in QUALITY_NESTED:
            if part in cell and whole in cell:
                attack.at_most(cell[part], cell[whole], f"{' '.join(part)} <= {' '.join(whole)}")
    _site_sums(attack, sums, "ALL = sum of sites (quality_measures)")


def attack_sustained_response(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """Courses assessed at a checkpoint are induction responders: at most response_rates' n_met
    (response) of the same cohort month, site and instrument."""
    keys = ["cohort_month", "site_id", "instrument", "months_after_endpoint"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "sustained_response"):
        cohort, site, instrument, months = (row[k] for k in keys)

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("sustained_response", row, keys, column)

        assessed = attack.count(("sustained_assessed", cohort, instrument, months, site), row["n_assessed"],
                                at("n_assessed"))
        sustained = attack.count(("sustained", cohort, instrument, months, site), row["n_sustained"],
                                 at("n_sustained"))
        sums[("sustained_assessed", cohort, instrument, months)][site] = assessed
        sums[("sustained", cohort, instrument, months)][site] = sustained
        attack.at_most(sustained, assessed, "sustained <= assessed")
        attack.at_most(assessed, ("response_rates", cohort, instrument, "response", site, "n_met"),
                       "assessed responders <= responders (response_rates n_met)")
        attack.rate_with_interval(row, at, "n_sustained", "n_assessed", (sustained, assessed))
    _site_sums(attack, sums, "ALL = sum of sites (sustained_response)")


def attack_relapse_survival(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """The network's curve on its grid: cumulative relapses and censorings never fall, the courses
    at risk at a point are those not relapsed or censored before it, and between two shown points
    every difference of counts is a count of courses, so it must be 0 or above the threshold.
    Survival and its interval are products over event times a reader does not have; they are
    only checked for being hidden with their row."""
    keys = ["instrument", "days"]
    by_instrument: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in _rows(con, "relapse_survival"):
        by_instrument[str(row["instrument"])].append(row)
    for instrument, rows in by_instrument.items():
        rows.sort(key=lambda r: int(r["days"]))
        previous: dict[str, Quantity] | None = None
        previous_row: dict[str, object] | None = None
        first: Quantity = ("relapse_curve", instrument, "followed")
        for row in rows:

            def at(column: str, row: dict[str, object] = row) -> str:
                return _where("relapse_survival", row, keys, column)

            q = {c: attack.count(("relapse_curve", instrument, row["days"], c), row[c], at(c))
                 for c in ("n_at_risk", "n_relapsed", "n_censored")}
            for column in ("survival", "ci_low", "ci_high"):
                attack.derived_beside_hidden(at(column), column, row[column], {"n_at_risk": row["n_at_risk"]})
            if previous is not None and previous_row is not None:
                for c in ("n_relapsed", "n_censored"):
                    attack.at_most(previous[c], q[c], f"cumulative {c} never falls")
                # at risk now = all followed (at risk on day 0) less the events before now: at most
                # those less the events up to the point before, at least those less the events so far
                attack.relate({q["n_at_risk"]: 1.0, first: -1.0, previous["n_relapsed"]: 1.0,
                               previous["n_censored"]: 1.0}, -math.inf, 0, "at risk <= all less earlier")
                attack.relate({q["n_at_risk"]: 1.0, first: -1.0, q["n_relapsed"]: 1.0, q["n_censored"]: 1.0},
                              0, math.inf, "at risk >= all less the events so far")
                for c in ("n_at_risk", "n_relapsed", "n_censored"):
                    if row[c] is not None and previous_row[c] is not None:
                        step = abs(int(row[c]) - int(previous_row[c]))
                        if 1 <= step <= SMALL_CELL_MAX:
                            attack.findings.append(Finding(at(c), f"differs from the point before by {step}"))
            if previous is None:
                first = q["n_at_risk"]
            previous, previous_row = q, row


def attack_response_by_infusion(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "instrument", "infusion_number"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "response_by_infusion"):
        cohort, site, instrument, k = (
            row["cohort_month"],
            row["site_id"],
            row["instrument"],
            row["infusion_number"],
        )

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("response_by_infusion", row, keys, column)

        assessed = attack.count(
            ("assessed", cohort, site, instrument, k), row["n_assessed"], at("n_assessed")
        )
        responders = attack.count(
            ("responders", cohort, site, instrument, k), row["n_responders"], at("n_responders")
        )
        sums[("assessed", cohort, instrument, k)][site] = assessed
        sums[("responders", cohort, instrument, k)][site] = responders
        attack.at_most(responders, assessed, "responders <= assessed")
        attack.rate_with_interval(row, at, "n_responders", "n_assessed", (responders, assessed))
    _site_sums(attack, sums, "ALL = sum of sites (response_by_infusion)")


def attack_score_trajectories(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "instrument", "timepoint"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    per_course: dict[tuple, dict[int, Quantity]] = defaultdict(dict)
    for row in _rows(con, "score_trajectories"):
        cohort, site, instrument, t = row["cohort_month"], row["site_id"], row["instrument"], row["timepoint"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("score_trajectories", row, keys, column)

        # after infusion k: the courses response_by_infusion counts as assessed (same population)
        name = (
            ("assessed", cohort, site, instrument, t)
            if t > 0
            else ("baseline_courses", cohort, site, instrument)
        )
        courses = attack.count(name, row["n_courses"], at("n_courses"))
        sums[(name[0], cohort, instrument, t)][site] = courses
        per_course[(cohort, site, instrument)][t] = courses
        for column in ("mean_score", "ci_low", "ci_high"):
            attack.derived_beside_hidden(at(column), column, row[column], {"n_courses": row["n_courses"]})
    last = max((t for timepoints in per_course.values() for t in timepoints), default=0)
    for (cohort, site, instrument), timepoints in per_course.items():
        for t in range(1, last + 1):  # rows exist where courses were scored: an absent one is 0
            if t not in timepoints:
                timepoints[t] = attack.count(
                    ("assessed", cohort, site, instrument, t),
                    0,
                    f"reporting.score_trajectories[{cohort}, {site}, {instrument}, {t}] (no row)",
                )
        if 0 in timepoints:  # every course scored after infusion k has its baseline (timepoint 0)
            for t, q in timepoints.items():
                if t > 0:
                    attack.at_most(q, timepoints[0], "courses after infusion k <= courses at baseline")
    _site_sums(attack, sums, "ALL = sum of sites (score_trajectories)")


def attack_safety_signal_counts(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["month", "site_id", "reason"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    reasons: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "safety_signal_counts"):
        month, site, reason = row["month"], row["site_id"], row["reason"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("safety_signal_counts", row, keys, column)

        given = attack.count(("sessions", month, site), row["n_sessions_given"], at("n_sessions_given"))
        signals = attack.count(("signals", month, site, reason), row["n_sessions"], at("n_sessions"))
        sums[("sessions", month)][site] = given
        sums[("signals", month, reason)][site] = signals
        reasons[(month, site)][reason] = signals
    for by_reason in reasons.values():
        if "any" in by_reason:
            others = [q for r, q in by_reason.items() if r != "any"]
            for q in others:
                attack.at_most(q, by_reason["any"], "a reason <= any")
            attack.relate(
                {by_reason["any"]: 1.0, **{q: -1.0 for q in others}},
                -math.inf,
                0,
                "any <= sum of the reasons",
            )
    _site_sums(attack, sums, "ALL = sum of sites (safety_signal_counts)")


def attack_data_quality(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["export_month", "export"]
    columns = DATA_QUALITY_COUNTS
    accounted: set[tuple] = set()
    for row in _rows(con, "file_accounting"):
        group = (row["export_month"], row["export"])
        q = {
            c: attack.count(("dq", *group, c), row[c], _where("file_accounting", row, keys, c))
            for c in columns
        }
        accounted.add(group)
        attack.equal_sum(
            q["rows_read"],
            [q["rows_loaded"], q["rows_quarantined"], q["duplicates_collapsed"]],
            f"rows_read = loaded + quarantined + collapsed [{group}]",
        )
        attack.relate(
            {q["rows_held"]: 1.0, q["rows_malformed"]: 1.0, q["rows_quarantined"]: -1.0},
            -math.inf,
            0,
            "held + malformed <= quarantined",
        )
    by_group: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "quarantine_reasons"):
        group = (row["export_month"], row["export"])
        where = _where("quarantine_reasons", row, [*keys, "reason"], "n_rows")
        name = (
            ("dq", *group, "rows_malformed")
            if row["reason"] == MALFORMED_REASON
            else ("reason", *group, row["reason"])
        )
        by_group[group][row["reason"]] = attack.count(name, row["n_rows"], where)
    for group in accounted:
        reasons = by_group.get(group, {})
        quarantined, held, malformed = (
            ("dq", *group, c) for c in ("rows_quarantined", "rows_held", "rows_malformed")
        )
        orphan = [q for r, q in reasons.items() if r in ORPHAN_REASONS]
        other = [q for r, q in reasons.items() if r not in ORPHAN_REASONS and r != MALFORMED_REASON]
        # held rows carry orphan reasons only; every other quarantined row (not a malformed line)
        # carries at least one other reason, and each reason counts a row at most once
        attack.relate({held: 1.0, **{q: -1.0 for q in orphan}}, -math.inf, 0, "held <= orphan reasons")
        attack.relate(
            {quarantined: 1.0, held: -1.0, malformed: -1.0, **{q: -1.0 for q in other}},
            -math.inf,
            0,
            "quarantined rows that are neither held nor malformed <= their reasons",
        )
        for q in other:
            attack.relate(
                {q: 1.0, quarantined: -1.0, held: 1.0, malformed: 1.0},
                -math.inf,
                0,
                "a reason <= the rows that are neither held nor malformed",
            )
        for q in orphan:
            attack.relate(
                {q: 1.0, quarantined: -1.0, malformed: 1.0},
                -math.inf,
                0,
                "an orphan reason <= the quarantined rows",
            )


def period_start(month: date, period_type: str) -> date:
    """The calendar quarter's or year's first day that `month` falls in."""
    return date(month.year, 1 if period_type == "year" else 3 * ((month.month - 1) // 3) + 1, 1)


def attack_response_rates_by_period(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """A pooled count is the sum of the same site's monthly counts in response_rates over the period
    (docs/querying.md: calendar quarters and years, each course in one cohort month)."""
    keys = ["period_type", "period_start", "site_id", "instrument", "measure"]
    months = defaultdict(set)
    found = con.execute("SELECT DISTINCT cohort_month FROM reporting.response_rates").fetchall()
    for (cohort_month,) in found:
        for period_type in ("quarter", "year"):
            months[period_type, period_start(cohort_month, period_type)].add(cohort_month)
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "response_rates_by_period"):
        period = (row["period_type"], row["period_start"])
        group = (row["instrument"], row["measure"])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("response_rates_by_period", row, keys, column)

        q = {c: attack.count((RESPONSE_POOL, *period, *group, row["site_id"], c), row[c], at(c))
             for c in ("n_eligible", "n_met", "n_missing_endpoint")}
        for c, quantity in q.items():
            sums[(*period, *group, c)][row["site_id"]] = quantity
            parts = [("response_rates", m, *group, row["site_id"], c) for m in sorted(months[period])]
            attack.equal_sum(quantity, parts, f"a pool is the sum of its months at {at(c)}")
        attack.at_most(q["n_met"], q["n_eligible"], "met <= eligible")
        attack.rate_with_interval(row, at, "n_met", "n_eligible", (q["n_met"], q["n_eligible"]))
    _site_sums(attack, sums, "ALL = sum of sites (response_rates_by_period)")


def attack_adverse_events_by_period(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """A pooled count is the sum of the same site's (and term's) monthly counts in adverse_events."""
    keys = ["period_type", "period_start", "site_id", "ae_term"]
    months = defaultdict(set)
    for (month,) in con.execute("SELECT DISTINCT month FROM reporting.adverse_events").fetchall():
        for period_type in ("quarter", "year"):
            months[period_type, period_start(month, period_type)].add(month)
    counts = ("n_sessions_with_event", "n_grade_3_plus", "n_serious")
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "adverse_events_by_period"):
        period, site, term = (row["period_type"], row["period_start"]), row["site_id"], row["ae_term"]
        in_period = sorted(months[period])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("adverse_events_by_period", row, keys, column)

        sessions = attack.count((AE_POOL_SESSIONS, *period, site), row["n_sessions"], at("n_sessions"))
        sums[("pooled_sessions", *period)][site] = sessions
        attack.equal_sum(sessions, [("sessions", m, site) for m in in_period],
                         "pooled sessions = sum of months")
        quantities = {c: attack.count((AE_POOL, *period, site, term, c), row[c], at(c)) for c in counts}
        for c, q in quantities.items():
            sums[("ae_pool", *period, term, c)][site] = q
            attack.equal_sum(q, [("ae", m, site, term, c) for m in in_period],
                             f"a pool is the sum of its months at {at(c)}")
        attack.at_most(quantities["n_sessions_with_event"], sessions, "events <= sessions")
        attack.rate_with_interval(row, at, "n_sessions_with_event", "n_sessions",
                                  (quantities["n_sessions_with_event"], sessions),
                                  rate="rate_per_100_sessions", scale=100.0)
    _site_sums(attack, sums, "ALL = sum of sites (adverse_events_by_period)")


ATTACKS = {
    "adverse_events": attack_adverse_events,
    "ae_control_chart": attack_ae_control_chart,
    "response_rates": attack_response_rates,
    "response_by_infusion": attack_response_by_infusion,
    "quality_measures": attack_quality_measures,
    "sustained_response": attack_sustained_response,
    "relapse_survival": attack_relapse_survival,
    "score_trajectories": attack_score_trajectories,
    "safety_signal_counts": attack_safety_signal_counts,
    "file_accounting": attack_data_quality,
    "quarantine_reasons": None,  # attacked with file_accounting
    "response_rates_by_period": attack_response_rates_by_period,
    "adverse_events_by_period": attack_adverse_events_by_period,
}

# Every numeric (or boolean) published column that the attacks above model.
MODELLED_COLUMNS = {
    "adverse_events": {
        "n_sessions",
        "n_sessions_with_event",
        "rate_per_100_sessions",
        "ci_low",
        "ci_high",
        "n_grade_3_plus",
        "n_serious",
        "n_stopped_early_for_event",
    },
    # n_baseline_months counts the site's rows in the pool (which months have rows is published);
    # limits_provisional follows from it
    "ae_control_chart": {"n_sessions", "n_sessions_with_any_ae", "p", "p_bar", "ucl", "lcl", "signal",
                         "n_baseline_months", "limits_provisional"},
    "response_rates": {"n_eligible", "n_met", "n_missing_endpoint", "rate", "ci_low", "ci_high",
                       "is_provisional"},
    "response_by_infusion": {"infusion_number", "n_assessed", "n_responders", "rate", "ci_low", "ci_high"},
    # is_provisional follows from cohort_month and the build's latest export month alone
    "quality_measures": {"n_denominator", "n_numerator", "rate", "ci_low", "ci_high", "is_provisional"},
    "sustained_response": {"months_after_endpoint", "n_assessed", "n_sustained", "rate", "ci_low", "ci_high",
                           "is_provisional"},
    "relapse_survival": {"days", "n_at_risk", "n_relapsed", "n_censored", "survival", "ci_low", "ci_high"},
    "score_trajectories": {"timepoint", "n_courses", "mean_score", "ci_low", "ci_high"},
    "safety_signal_counts": {"n_sessions_given", "n_sessions"},
    "file_accounting": set(DATA_QUALITY_COUNTS),
    "quarantine_reasons": {"n_rows"},
    # n_cohort_months / n_months: the months with rows in the monthly table, published there;
    # is_provisional follows from the period and the build's latest export month
    "response_rates_by_period": {"n_cohort_months", "n_eligible", "n_met", "n_missing_endpoint", "rate",
                                 "ci_low", "ci_high", "is_provisional"},
    "adverse_events_by_period": {"n_months", "n_sessions", "n_sessions_with_event", "rate_per_100_sessions",
                                 "ci_low", "ci_high", "n_grade_3_plus", "n_serious", "is_provisional"},
}


def unmodelled_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Published numbers (and booleans) of `reporting` that no attack here knows how to combine."""
    found = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'reporting' "
        "AND database_name = current_database() AND data_type NOT IN ('VARCHAR', 'DATE', 'VARCHAR[]') "
        "ORDER BY ALL"
    ).fetchall()
    tables = {
        t
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'reporting' "
            "AND database_name = current_database()"
        ).fetchall()
    }
    missing = [f"reporting.{t} (a table)" for t in sorted(tables - set(MODELLED_COLUMNS))]
    return missing + [f"reporting.{t}.{c}" for t, c in found if c not in MODELLED_COLUMNS.get(t, set())]


def attack_of(con: duckdb.DuckDBPyConnection) -> Attack:
    """Everything an outsider reads in the `reporting` schema of `con`: its cells and relations
    (a table that is not there publishes nothing)."""
    present = {table for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'reporting' "
        "AND database_name = current_database()").fetchall()}
    attack = Attack()
    for table, run in ATTACKS.items():
        if run is not None and table in present:
            run(attack, con)
    return attack


def attack_published(con: duckdb.DuckDBPyConnection, attack: Attack | None = None) -> list[Finding]:
    """Every disclosure an outsider can prove from the `reporting` schema of `con`."""
    attack = attack or attack_of(con)
    return [
        Finding(column, "published number not modelled by the attack") for column in unmodelled_columns(con)
    ] + attack.solve()
