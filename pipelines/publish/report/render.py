"""One month's report as a self-contained HTML string: Jinja template, inline CSS, inline SVG.

Every count goes through `count_cell`, the one place that prints counts: shown counts become
`<span class="count">1,234</span>`, suppressed ones a marker without digits. It refuses a
count of 1..small_cell_max (reference.rules) that arrives unsuppressed, so a suppression bug
upstream fails the report instead of publishing a small cell.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from pipelines.publish.report import charts
from pipelines.publish.report.data import (
    ALL,
    HEADLINE_MEASURES,
    INSTRUMENT_ORDER,
    SAFETY_REASONS,
    SYNTHETIC_TEXT,
    CohortSeries,
    Comparison,
    ReportData,
    ReportRules,
    Row,
    add_months,
)
from pipelines.publish.report.funnel import place

TEMPLATE = "template.html.j2"
SUPPRESSED_TITLE = "suppressed (small cell)"
SUPPRESSED_MARK = "*"

INSTRUMENT_NAMES = {"PCL5": "PCL-5", "PHQ9": "PHQ-9", "GAD7": "GAD-7"}
QUALITY_NAMES = {
    ("DRR-E", "follow_up"): "DRR-E: follow-up PHQ-9 at 4-8 months",
    ("DRR-E", "remission"): "DRR-E: remission at 4-8 months",
    ("DRR-E", "response"): "DRR-E: response at 4-8 months",
    ("CMS159", "remission"): "CMS159: remission at 12 months",
    ("NQF1885", "response"): "NQF 1885: response at 12 months",
    ("DMS-E", "utilization"): "DMS-E: PHQ-9 utilisation",
}


def quality_cohort(row: Mapping[str, Any]) -> str:
    """A standard measure's cohort: its index month, or DMS-E's assessment period (which ends on the
    day its window closes)."""
    if row["measure_id"] == "DMS-E":
        return f"{row['cohort_month']:%B}\u2013{row['window_closes_on']:%B %Y}"
    return month_name(row["cohort_month"])


MEASURE_NAMES = {
    "response": "Response",
    "remission": "Remission",
    "meaningful_improvement": "Meaningful improvement",
    "deterioration": "Deterioration",
    "item9_worsened": "Item 9 worsened",
}
REASON_NAMES = {
    "any": "Any reason for review",
    "grade_3_plus": "Adverse event grade 3 or higher (CTCAE)",
    "serious": "Serious adverse event (21 CFR 312.32)",
    "item9_rise": "PHQ-9 item 9 rise over baseline",
}
COMPARATORS = {">=": "\u2265", "<=": "\u2264", ">": ">", "<": "<"}
EXPORT_NAMES = {"sessions": "Sessions", "vitals": "Vitals", "questionnaires": "Questionnaires"}


class SmallCellError(ValueError):
    """A count of 1-10 reached the report unsuppressed."""


def month_name(month: date | str | None) -> str:
    """'June 2025' from a date or a 'YYYY-MM' key."""
    if month is None:
        return "-"
    if isinstance(month, str):
        month = date.fromisoformat(f"{month[:7]}-01")
    return month.strftime("%B %Y")


def instrument_name(instrument: str) -> str:
    return INSTRUMENT_NAMES.get(instrument, instrument)


def _suppressed(row: Mapping[str, Any] | None, column: str) -> bool:
    return bool(row) and column in (row.get("suppressed_cells") or ())


def _marker(kind: str) -> Markup:
    return Markup(f'<span class="{kind}suppressed" title="{SUPPRESSED_TITLE}">{SUPPRESSED_MARK}</span>')


NO_DATA = Markup('<span class="nodata" title="no data">&ndash;</span>')


def count_cell(row: Mapping[str, Any] | None, column: str, small_cell_max: int) -> Markup:
    """The only way the template prints a count (people, sessions, rows, files); a count of
    1..small_cell_max that reached it unsuppressed stops the render."""
    if _suppressed(row, column):
        return _marker("count ")
    value = None if row is None else row.get(column)
    if value is None:
        return Markup('<span class="count nodata" title="no data">&ndash;</span>')
    value = int(value)
    if 1 <= value <= small_cell_max:
        raise SmallCellError(f"unsuppressed count {column} = {value} in {dict(row or {})}")
    return Markup(f'<span class="count">{value:,}</span>')


def _format(value: float, kind: str) -> str:
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "per100":
        return f"{value:,.1f}"
    if kind == "p":
        return f"{100 * value:.1f}%"
    return f"{value:,.1f}"  # scores


def file_count(row: Mapping[str, Any] | None) -> Markup:
    """The number of files of an export month: not a count of people or rows, so never suppressed
    and printed outside the count guard."""
    value = None if row is None else row.get("n_files")
    if value is None:
        return _marker("count ") if _suppressed(row, "n_files") else NO_DATA
    return Markup(f'<span class="files">{int(value):,}</span>')


def value_cell(row: Mapping[str, Any] | None, column: str, kind: str = "pct") -> Markup:
    """A rate, mean or limit: the suppression marker when it is built on a hidden count."""
    if _suppressed(row, column):
        return _marker("")
    value = None if row is None else row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_DATA
    return Markup(f'<span class="value">{escape(_format(float(value), kind))}</span>')


def ci_cell(row: Mapping[str, Any] | None, low: str = "ci_low", high: str = "ci_high",
            kind: str = "pct") -> Markup:
    """'38.1-52.4%' style interval, or the marker / a dash."""
    if _suppressed(row, low) or _suppressed(row, high):
        return _marker("")
    lo = None if row is None else row.get(low)
    hi = None if row is None else row.get(high)
    if lo is None or hi is None:
        return NO_DATA
    if kind == "pct":
        text = f"{100 * lo:.1f}&ndash;{100 * hi:.1f}%"
    else:
        text = f"{_format(lo, kind)}&ndash;{_format(hi, kind)}"
    return Markup(f'<span class="value ci">{text}</span>')


def _point(row: Row | None, value: str, low: str = "ci_low", high: str = "ci_high") -> charts.Point:
    if row is None:
        return charts.Point(None)
    return charts.Point(row.get(value), row.get(low), row.get(high), suppressed=_suppressed(row, value))


def _trend_chart(data: ReportData) -> str | None:
    if not data.headline_instruments:
        return None
    cohorts = [add_months(data.trend_start, i) for i in range(data.rules.trend_months)]
    by_key = {(r["cohort_month"], r["instrument"], r["measure"]): r for r in data.trend}
    panels = [
        charts.Panel(
            title=instrument_name(instrument),
            series=[charts.Series(MEASURE_NAMES[m], [_point(by_key.get((c, instrument, m)), "rate")
                                                     for c in cohorts]) for m in HEADLINE_MEASURES],
        )
        for instrument in data.headline_instruments
    ]
    return charts.line_panels(panels, charts.month_labels(cohorts), "trend",
                              "Response and remission rates by cohort month with 95% intervals",
                              height=2.9, x_title="cohort month (first session)")


def _series_title(series: CohortSeries) -> str:
    name = instrument_name(series.instrument)
    return f"{name}, cohort {month_name(series.cohort_month)}" if series.cohort_month else \
        f"{name}: no cohort with shown values"


def _infusion_chart(data: ReportData) -> str | None:
    shown = [s for s in data.by_infusion if s.rows]
    if not shown:
        return None
    panels = []
    for series in shown:
        by_number = {r["infusion_number"]: r for r in series.rows}
        panels.append(charts.Panel(_series_title(series), [charts.Series(
            "response rate after infusion k", [_point(by_number.get(k), "rate") for k in range(1, 7)])]))
    return charts.line_panels(panels, [str(k) for k in range(1, 7)], "infusion",
                              "Response rate after each infusion with 95% intervals", height=2.4,
                              x_title="infusion number")


def _reference_lines(data: ReportData, instrument: str) -> list[tuple[float, str]]:
    """Cut-offs drawn on the trajectories: the eligible baseline and the remission score."""
    labels: dict[float, list[str]] = {}
    for measure in data.outcome_measures:
        if measure["instrument"] != instrument:
            continue
        if measure["measure"] == "response" and measure.get("baseline_min_score") is not None:
            value = float(measure["baseline_min_score"])
            labels.setdefault(value, []).append(f"eligible baseline \u2265 {value:g}")
        if measure["measure"] == "remission" and measure.get("below_score") is not None:
            value = float(measure["below_score"])
            labels.setdefault(value, []).append(f"remission < {value:g}")
    return [(value, "; ".join(texts)) for value, texts in sorted(labels.items())]


def _trajectory_chart(data: ReportData) -> str | None:
    shown = [s for s in data.trajectories if s.rows]
    if not shown:
        return None
    panels = []
    for series in shown:
        by_point = {r["timepoint"]: r for r in series.rows}
        info = data.instruments.get(series.instrument, {})
        limits = None
        if info.get("total_min") is not None and info.get("total_max") is not None:
            limits = (float(info["total_min"]), float(info["total_max"]))
        panels.append(charts.Panel(
            _series_title(series),
            [charts.Series("mean total score", [_point(by_point.get(t), "mean_score") for t in range(7)])],
            reference_lines=_reference_lines(data, series.instrument),
            y_limits=limits,
        ))
    return charts.line_panels(panels, ["Base-\nline", *(str(k) for k in range(1, 7))], "trajectory",
                              "Mean total score at baseline and after each infusion with 95% intervals",
                              percent=False, height=2.5, x_title="after infusion")


def _relapse_grid(data: ReportData) -> tuple[list[int], list[tuple[str, list[Row | None]]]]:
    """The relapse curve's grid days, and per instrument its row at each (None: no row)."""
    days = sorted({int(r["days"]) for r in data.relapse_curve})
    instruments = sorted({r["instrument"] for r in data.relapse_curve}, key=lambda i: (
        INSTRUMENT_ORDER.index(i) if i in INSTRUMENT_ORDER else len(INSTRUMENT_ORDER)))
    cells = {(r["instrument"], int(r["days"])): r for r in data.relapse_curve}
    return days, [(i, [cells.get((i, d)) for d in days]) for i in instruments]


def _relapse_chart(data: ReportData) -> str | None:
    days, by_instrument = _relapse_grid(data)
    if not any(r is not None and r["survival"] is not None for _, cells in by_instrument for r in cells):
        return None
    panels = [charts.Panel(instrument_name(instrument), [charts.Series(
        "still in response", [charts.Point(r["survival"], r["ci_low"], r["ci_high"],
                                           bool(r["suppressed_cells"])) if r else charts.Point(None)
                              for r in cells])]) for instrument, cells in by_instrument]
    return charts.line_panels(
        panels, [str(d) for d in days], "relapse",
        "Share of induction responders still in response, Kaplan-Meier, with 95% intervals",
        height=2.4, x_title="days after the induction endpoint")


def _ae_chart(data: ReportData) -> str | None:
    if not data.ae_terms:
        return None
    bars = [charts.Bar(data.ae_labels.get(r["ae_term"], r["ae_term"]), r["rate_per_100_sessions"],
                       r["ci_low"], r["ci_high"], _suppressed(r, "rate_per_100_sessions"))
            for r in data.ae_terms]
    return charts.ae_bars(bars, "ae", "Adverse events per 100 sessions by term with 95% intervals")


def _control_points(rows: Sequence[Row], first: date, last: date) -> list[charts.ControlPoint]:
    """From the first month with a row (at most rules.pchart_months back) to the report month."""
    by_month = {r["month"]: r for r in rows}
    start = min(by_month, default=last)
    start = max(start, first)
    months = []
    month = start
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return [charts.ControlPoint(
        m,
        (by_month.get(m) or {}).get("p"),
        (by_month.get(m) or {}).get("p_bar"),
        (by_month.get(m) or {}).get("ucl"),
        (by_month.get(m) or {}).get("lcl"),
        bool((by_month.get(m) or {}).get("signal")),
        _suppressed(by_month.get(m), "p"),
        bool((by_month.get(m) or {}).get("limits_provisional")),
    ) for m in months]


def _p_chart(data: ReportData) -> str | None:
    if not data.pchart:
        return None
    return charts.p_chart(_control_points(data.pchart, data.pchart_start, data.month), "pchart",
                          "p-chart of the monthly proportion of sessions with any adverse event")


def comparison_points(comparison: Comparison, numerator: str, denominator: str) -> list:
    """A comparison's sites placed against the funnel around the network (sites whose pooled figures
    are suppressed, or without a denominator, are not plotted)."""
    network = comparison.network
    if network is None or not network.get(denominator) or network.get(numerator) is None:
        return []
    target = network[numerator] / network[denominator]
    shown = [(r["site_id"], int(r[denominator]), r[numerator] / r[denominator]) for r in comparison.sites
             if r.get(numerator) is not None and r.get(denominator)]
    return place(target, shown)


def _funnel_charts(data: ReportData) -> dict[str, str | None]:
    response = [c for c in data.response_comparison if c.network and c.network.get("n_eligible")
                and comparison_points(c, "n_met", "n_eligible")]  # no empty funnel: the text says why
    made: dict[str, str | None] = {"response": None, "ae": None}
    if response:
        made["response"] = charts.funnel_panels(
            [charts.FunnelPanel(f"{instrument_name(c.key)} response, {quarter_name(c.period_start)}",
                                c.network["n_met"] / c.network["n_eligible"],
                                comparison_points(c, "n_met", "n_eligible")) for c in response],
            "funnel-response", "Funnel plot of site response rates against completers",
            x_title="completers (courses with an endpoint)", y_title="response rate")
    ae = data.ae_comparison
    if ae and ae.network and ae.network.get("n_sessions") and comparison_points(ae, "n_sessions_with_event",
                                                                                "n_sessions"):
        made["ae"] = charts.funnel_panels(
            [charts.FunnelPanel(f"Sessions with any adverse event, {quarter_name(ae.period_start)}",
                                ae.network["n_sessions_with_event"] / ae.network["n_sessions"],
                                comparison_points(ae, "n_sessions_with_event", "n_sessions"))],
            "funnel-ae", "Funnel plot of site adverse-event rates against sessions",
            x_title="sessions", y_title="per 100 sessions", scale=100.0, height=2.6)
    return made


def _find(rows: Sequence[Row], instrument: str, measure: str) -> Row | None:
    return next((r for r in rows if r["instrument"] == instrument and r["measure"] == measure), None)


def _changes(data: ReportData) -> list[dict[str, Any]]:
    """The first page's 'since last month': the headline rates against last month's headline cohort,
    and the month's any-AE rate against the month before's (differences of two shown values only)."""
    made = []
    for instrument, measure in (("PCL5", "response"), ("PHQ9", "response"), ("PHQ9", "remission")):
        now = _find(data.headline, instrument, measure)
        before = _find(data.previous_headline, instrument, measure)
        if now is None and before is None:
            continue
        made.append({"label": f"{instrument_name(instrument)} {MEASURE_NAMES[measure].lower()}",
                     "now": now, "before": before, "column": "rate", "kind": "pct",
                     "when": (month_name(data.headline_cohort),
                              month_name(add_months(data.headline_cohort, -1)))})
    if data.ae_any or data.previous_ae_any:
        made.append({"label": "Sessions with any adverse event, per 100", "now": data.ae_any,
                     "before": data.previous_ae_any, "column": "rate_per_100_sessions", "kind": "per100",
                     "when": (month_name(data.month), month_name(add_months(data.month, -1)))})
    for change in made:
        now = (change["now"] or {}).get(change["column"])
        before = (change["before"] or {}).get(change["column"])
        change["delta"] = None if now is None or before is None else now - before
    return made


def _benchmarks(data: ReportData) -> list[dict[str, Any]]:
    """Each published figure beside the network's comparable one (reference.published_benchmarks)."""
    hypertension = next((r for r in data.ae_terms if r["ae_term"] == "hypertension"), None)
    made = []
    for bench in data.benchmarks:
        if bench.get("ae_term"):
            row, column, kind = (hypertension if bench["ae_term"] == "hypertension" else None), \
                "rate_per_100_sessions", "per100"
            when = month_name(data.month)
        else:
            row, column, kind = _find(data.headline, bench["instrument"], bench["measure"]), "rate", "pct"
            when = f"cohort {month_name(data.headline_cohort)}"
        made.append({"bench": bench, "row": row, "column": column, "kind": kind, "when": when,
                     "published": bench["value"] * (100 if kind == "per100" else 1)})
    return made


def _attrition(data: ReportData) -> list[tuple[str, dict[date, Row]]]:
    """Per instrument and cohort: completers, missing endpoints and their sum, the courses with an
    eligible baseline (hidden when either part is: a sum of shown counts only)."""
    by_instrument: dict[str, dict[date, Row]] = {}
    for row in data.attrition:
        hidden = [c for c in ("n_eligible", "n_missing_endpoint") if _suppressed(row, c)]
        parts = (row.get("n_eligible"), row.get("n_missing_endpoint"))
        total = None if hidden or None in parts else parts[0] + parts[1]
        by_instrument.setdefault(row["instrument"], {})[row["cohort_month"]] = {
            **row, "n_baseline_eligible": total,
            "suppressed_cells": [*(row.get("suppressed_cells") or []),
                                 *(["n_baseline_eligible"] if hidden else [])]}
    return sorted(by_instrument.items(), key=lambda item: INSTRUMENT_ORDER.index(item[0])
                  if item[0] in INSTRUMENT_ORDER else 99)


def quarter_name(start: date | None) -> str:
    """'Q2 2025' from a quarter's first day."""
    if start is None:
        return "-"
    return f"Q{(start.month - 1) // 3 + 1} {start.year}"


def _pivot_safety(data: ReportData) -> tuple[list[str], list[tuple[str, list[Row | None]]]]:
    """Reasons as rows, the network and each site as columns."""
    sites = sorted({r["site_id"] for r in data.safety} - {ALL})
    columns = [ALL, *sites] if data.safety else []
    cells = {(r["reason"], r["site_id"]): r for r in data.safety}
    reasons = [r for r in SAFETY_REASONS if any(k[0] == r for k in cells)]
    reasons += sorted({k[0] for k in cells} - set(reasons))
    return columns, [(reason, [cells.get((reason, c)) for c in columns]) for reason in reasons]


def _pivot(series: Sequence[CohortSeries], key: str,
           points: Iterable[int]) -> list[tuple[int, list[Row | None]]]:
    """Time points as rows, one group of columns per instrument."""
    by_point = [{r[key]: r for r in s.rows} for s in series]
    return [(point, [rows.get(point) for rows in by_point]) for point in points]


def environment(rules: ReportRules, count_guard: int | None = None) -> Environment:
    """The template's environment for one build's rules: its small-cell threshold guards every count
    (`count_guard`, when given, instead: 0 for the internal edition, which shows small cells)."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(
        count_cell=partial(count_cell,
                           small_cell_max=rules.small_cell_max if count_guard is None else count_guard),
        value_cell=value_cell,
        ci_cell=ci_cell, month_name=month_name, file_count=file_count,
        instrument_name=instrument_name, measure_names=MEASURE_NAMES, reason_names=REASON_NAMES,
        export_names=EXPORT_NAMES, comparators=COMPARATORS, suppressed_title=SUPPRESSED_TITLE,
        suppressed_mark=SUPPRESSED_MARK, small_cell_max=rules.small_cell_max,
        quality_names=QUALITY_NAMES, quality_cohort=quality_cohort, quarter_name=quarter_name,
    )
    env.filters["month_name"] = month_name
    return env


def render_html(data: ReportData) -> str:
    """The whole report for one month, ready to write or print."""
    safety_columns, safety_rows = _pivot_safety(data)
    headline_by_instrument: dict[str, list[Row]] = {}
    for row in data.headline:
        headline_by_instrument.setdefault(row["instrument"], []).append(row)
    network_signal = next((r for r in data.signals if r["site_id"] == ALL), None)
    pchart_month = next((r for r in data.pchart if r["month"] == data.month), None)
    infusion_series = [s for s in data.by_infusion if s.rows]
    trajectory_series = [s for s in data.trajectories if s.rows]
    context = {
        "d": data,
        "infusion_series": infusion_series,
        "infusion_table": _pivot(infusion_series, "infusion_number", range(1, 7)),
        "trajectory_series": trajectory_series,
        "trajectory_table": _pivot(trajectory_series, "timepoint", range(7)),
        "title": f"Ketamine and esketamine outcomes: {month_name(data.month)}",
        "headline_by_instrument": headline_by_instrument,
        "network_signal": network_signal,
        "pchart_month": pchart_month,
        "site_signals": [r for r in data.signals if r["site_id"] != ALL],
        "safety_columns": safety_columns,
        "safety_rows": safety_rows,
        "charts": {
            "trend": _trend_chart(data),
            "infusion": _infusion_chart(data),
            "trajectory": _trajectory_chart(data),
            "ae": _ae_chart(data),
            "pchart": _p_chart(data),
            "relapse": _relapse_chart(data),
        },
        "relapse_grid": _relapse_grid(data),
        "method_instruments": [(code, data.instruments[code]) for code in INSTRUMENT_ORDER
                               if code in data.instruments],
        "funnels": _funnel_charts(data),
        "changes": _changes(data),
        "attrition": _attrition(data),
        "attrition_cohorts": sorted({r["cohort_month"] for r in data.attrition}),
        "benchmarks": _benchmarks(data),
        "format_value": _format,
        "response_places": {c.key: {p.label: p for p in comparison_points(c, "n_met", "n_eligible")}
                            for c in data.response_comparison},
        "ae_places": {p.label: p for p in comparison_points(data.ae_comparison, "n_sessions_with_event",
                                                            "n_sessions")} if data.ae_comparison else {},
        "trend_first": data.trend_start,
        "pchart_first": data.pchart_start,
        "endpoint_last_day": data.assessment_windows["endpoint_last_day"],
        "synthetic_text": SYNTHETIC_TEXT,
        "internal": data.edition.internal,
    }
    return environment(data.rules, data.count_guard).get_template(TEMPLATE).render(**context)
