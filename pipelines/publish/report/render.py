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
    ReportData,
    ReportRules,
    Row,
    SiteData,
    add_months,
)

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
    ) for m in months]


def _p_chart(data: ReportData) -> str | None:
    if not data.pchart:
        return None
    return charts.p_chart(_control_points(data.pchart, data.pchart_start, data.month), "pchart",
                          "p-chart of the monthly proportion of sessions with any adverse event")


def _site_chart(data: ReportData, site: SiteData) -> str | None:
    if not site.pchart:
        return None
    return charts.p_chart(_control_points(site.pchart, data.pchart_start, data.month),
                          f"pchart-{site.site_id}", f"p-chart for site {site.site_id}", height=1.8)


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


def environment(rules: ReportRules) -> Environment:
    """The template's environment for one build's rules (its small-cell threshold guards every count)."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(
        count_cell=partial(count_cell, small_cell_max=rules.small_cell_max), value_cell=value_cell,
        ci_cell=ci_cell, month_name=month_name,
        instrument_name=instrument_name, measure_names=MEASURE_NAMES, reason_names=REASON_NAMES,
        export_names=EXPORT_NAMES, comparators=COMPARATORS, suppressed_title=SUPPRESSED_TITLE,
        suppressed_mark=SUPPRESSED_MARK, small_cell_max=rules.small_cell_max,
        quality_names=QUALITY_NAMES, quality_cohort=quality_cohort,
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
        "site_charts": {s.site_id: _site_chart(data, s) for s in data.sites},
        "trend_first": data.trend_start,
        "pchart_first": data.pchart_start,
        "endpoint_last_day": data.assessment_windows["endpoint_last_day"],
        "synthetic_text": SYNTHETIC_TEXT,
    }
    return environment(data.rules).get_template(TEMPLATE).render(**context)
