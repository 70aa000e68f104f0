"""Everything the report shows for one month, read from the published warehouse.

Reads only `reporting.*` (small cells suppressed), `reference.*` (definitions and sources) and
`meta.build`. Never `marts.*`: those hold exact small counts and must not leave the quality
team. Rows are plain dicts keyed by column name, so the template and the charts depend on
column names only, and every reporting row keeps its `suppressed_cells` list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb

from pipelines.contract import EXPORTS
from pipelines.publish.report.editions import EXTERNAL, Edition
from pipelines.sql import has_table

Row = dict[str, Any]

ALL = "ALL"
INSTRUMENT_ORDER = ("PCL5", "PHQ9", "GAD7")
HEADLINE_MEASURES = ("response", "remission")
CHART_INSTRUMENTS = ("PCL5", "PHQ9")  # by infusion; trajectories add GAD-7 when it has response rows
SAFETY_REASONS = ("any", "grade_3_plus", "serious", "item9_rise")
# The standard measures' rates in the order the report lists them (reporting.quality_measures).
QUALITY_RATES = (("DRR-E", "follow_up"), ("DRR-E", "remission"), ("DRR-E", "response"),
                 ("CMS159", "remission"), ("NQF1885", "response"), ("DMS-E", "utilization"))


def add_months(month: date, n: int) -> date:
    """First day of the month n months after (n < 0: before) `month`."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_of(key: str) -> date:
    """The first day of a partition key's month ("2025-06" -> 2025-06-01)."""
    return date.fromisoformat(f"{key}-01")


SYNTHETIC_TEXT = ("SYNTHETIC DEMO DATA: generated exports, not a clinic's; "
                  "not for clinical or quality decisions")


@dataclass(frozen=True)
class ReportRules:
    """The report's numbers as the build used them: `reference.rules`, written by dbt from the vars of
    dbt/dbt_project.yml (their one home, with sources), so a report never disagrees with its tables."""

    small_cell_max: int  # counts 1..small_cell_max are never shown (CMS cell size suppression policy)
    headline_lag_months: int  # the headline cohort is the report month minus this
    trend_months: int  # cohorts in the response trend, ending at the headline cohort
    pchart_months: int  # months in the p-charts, ending at the report month
    control_chart_baseline_months: int  # the months before each month that p_bar pools (Methods text)
    control_chart_sigma: int  # the control limits' width in standard errors (Methods text)
    control_chart_min_baseline_months: int  # fewer baseline months: provisional limits, no signal


RULES = {"small_cell_max": "small_cell_max", "headline_lag_months": "report_headline_lag_months",
         "trend_months": "report_trend_months", "pchart_months": "report_pchart_months",
         "control_chart_baseline_months": "control_chart_baseline_months",
         "control_chart_sigma": "control_chart_sigma",
         "control_chart_min_baseline_months": "control_chart_min_baseline_months"}


def read_rules(con: duckdb.DuckDBPyConnection) -> ReportRules:
    """The report's rules from the published build; a build without them cannot be rendered safely."""
    found = dict(con.execute("SELECT rule, value FROM reference.rules").fetchall()) \
        if has_table(con, "reference", "rules") else {}
    missing = [rule for rule in RULES.values() if found.get(rule) is None]
    if missing:
        raise ValueError(f"reference.rules has no {', '.join(missing)}: the published build is older than "
                         "the report; `outcomes run` publishes a new one")
    return ReportRules(**{field: int(found[rule]) for field, rule in RULES.items()})


@dataclass(frozen=True)
class Build:
    build_id: str
    built_at: datetime
    months: list[str]
    synthetic: bool = False  # made from generated exports: every page says so


@dataclass
class CohortSeries:
    """One instrument's by-infusion or trajectory rows for the cohort month chosen for it."""

    instrument: str
    cohort_month: date | None  # None: no cohort in the window has a shown value
    rows: list[Row]


@dataclass
class Comparison:
    """One funnel plot's figures: a calendar quarter's pooled rows, the network's and each site's.

    Response: the latest quarter whose cohorts' endpoint windows have all closed by the end of the
    report month; adverse events: the latest quarter that has ended by then. Quarters, never
    rolling windows (docs/querying.md)."""

    key: str  # the instrument, or the adverse-event term
    period_start: date | None  # None: no quarter qualifies yet
    period_end: date | None
    network: Row | None
    sites: list[Row]  # every site's row of the quarter (a suppressed one has no proportion)


@dataclass
class SiteLine:
    """One site's line in the site table."""

    site_id: str
    control: Row  # reporting.ae_control_chart for the report month
    ae_quarter: Row | None  # the AE comparison's row of the site
    response_quarter: dict[str, Row]  # instrument -> the response comparison's row of the site


@dataclass
class QualityRate:
    """One standard measure's rate as of the report month: only cohorts whose windows have closed count.

    A cohort is closed when its last window ends by the report month's last day
    (reporting.quality_measures.window_closes_on); younger cohorts are provisional and never shown.
    """

    measure_id: str
    measure: str
    definition: Row  # reference.quality_measure_rates
    latest_closed: Row | None  # the network row of the most recent closed cohort
    latest_shown: Row | None  # the most recent closed cohort whose rate is shown (not suppressed)
    n_open: int  # cohorts with index events or encounters whose windows are still open
    first_closing: date | None  # when no cohort has closed: the day the first one will


@dataclass
class SustainedResponse:
    """One instrument and checkpoint of reporting.sustained_response as of the report month (closed
    cohorts only, as for QualityRate)."""

    instrument: str
    months_after_endpoint: int
    latest_closed: Row | None
    latest_shown: Row | None
    n_open: int
    first_closing: date | None


@dataclass
class ReportData:
    """All figures of one month's report (month M; headline cohort M - rules.headline_lag_months)."""

    month: date
    headline_cohort: date
    rules: ReportRules
    build: Build
    instruments: dict[str, Row]  # reference.instruments by instrument
    headline_instruments: list[str]  # instruments with response rows in the trend window
    headline: list[Row]
    trend: list[Row]
    by_infusion: list[CohortSeries]
    trajectories: list[CohortSeries]
    ae_terms: list[Row]
    ae_any: Row | None
    pchart: list[Row]
    signals: list[Row]
    safety: list[Row]
    file_accounting: list[Row]
    quarantine: list[Row]
    outcome_measures: list[Row]
    vital_thresholds: list[Row]
    assessment_windows: Row
    ae_labels: dict[str, str]
    vital_labels: dict[str, str]  # systolic_bp -> Systolic blood pressure (reference.measure_codes)
    site_lines: list[SiteLine] = field(default_factory=list)  # every site with sessions in M
    response_comparison: list[Comparison] = field(default_factory=list)  # PCL-5, PHQ-9
    ae_comparison: Comparison | None = None
    quality: list[QualityRate] = field(default_factory=list)  # empty for a build without the measures
    quality_index_min: int | None = None  # reference.quality_measure_rules: the lowest elevated PHQ-9
    sustained: list[SustainedResponse] = field(default_factory=list)  # PCL-5 / PHQ-9 x 3 / 6 months
    relapse_curve: list[Row] = field(default_factory=list)  # reporting.relapse_survival, the network grid
    relapse_rules: list[Row] = field(default_factory=list)  # reference.relapse_rules
    edition: Edition = EXTERNAL  # internal: read from the marts, every count shown
    previous_headline: list[Row] = field(default_factory=list)  # last month's headline cohort, network
    previous_ae_any: Row | None = None  # the network's any-AE row of the month before
    benchmarks: list[Row] = field(default_factory=list)  # reference.published_benchmarks
    attrition: list[Row] = field(default_factory=list)  # network response rows, trend start .. report month

    @property
    def count_guard(self) -> int:
        """The largest count the report refuses to print: the small-cell threshold, none internally."""
        return 0 if self.edition.internal else self.rules.small_cell_max

    @property
    def trend_start(self) -> date:
        return add_months(self.headline_cohort, -(self.rules.trend_months - 1))

    @property
    def pchart_start(self) -> date:
        return add_months(self.month, -(self.rules.pchart_months - 1))


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Row]:
    """Run a query and return its rows as dicts."""
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]



def _instrument_rank(instrument: str) -> int:
    return INSTRUMENT_ORDER.index(instrument) if instrument in INSTRUMENT_ORDER else len(INSTRUMENT_ORDER)


def read_build(con: duckdb.DuckDBPyConnection) -> Build:
    found = rows(con, "SELECT * FROM meta.build")
    if not found:
        raise ValueError("meta.build is empty: not a published warehouse")
    build = found[0]
    return Build(build["build_id"], build["built_at"], list(build["months"] or []),
                 bool(build.get("synthetic", False)))


def _cohort_series(con: duckdb.DuckDBPyConnection, table: str, value: str, instrument: str,
                   first: date, last: date, site_id: str = ALL) -> CohortSeries:
    """The cohort month in [first, last] with the most shown values (ties: the most recent), and its rows.

    Pooling cohort months would create new, unsuppressed totals, so each chart shows one
    cohort month's own (already suppressed) network rows and says which month it is; the
    fullest recent curve says more than the latest one with a single point left.
    """
    order = "infusion_number" if table == "response_by_infusion" else "timepoint"
    best = con.execute(
        f"SELECT cohort_month FROM reporting.{table} WHERE site_id = ? AND instrument = ? "
        f"AND cohort_month BETWEEN ? AND ? GROUP BY cohort_month HAVING count({value}) > 0 "
        f"ORDER BY count({value}) DESC, cohort_month DESC LIMIT 1",
        [site_id, instrument, first, last],
    ).fetchone()
    if best is None:
        return CohortSeries(instrument, None, [])
    found = rows(con, f"SELECT * FROM reporting.{table} WHERE site_id = ? AND instrument = ? "
                      f"AND cohort_month = ? ORDER BY {order}", [site_id, instrument, best[0]])
    return CohortSeries(instrument, best[0], found)


def _headline(con: duckdb.DuckDBPyConnection, cohort: date, site_id: str) -> list[Row]:
    found = rows(con, "SELECT * FROM reporting.response_rates WHERE cohort_month = ? AND site_id = ? "
                      "AND measure IN ('response', 'remission')", [cohort, site_id])
    return sorted(found, key=lambda r: (_instrument_rank(r["instrument"]),
                                        HEADLINE_MEASURES.index(r["measure"])))


def _control_series(con: duckdb.DuckDBPyConnection, site_id: str, first: date, last: date) -> list[Row]:
    return rows(con, "SELECT * FROM reporting.ae_control_chart WHERE site_id = ? AND month BETWEEN ? AND ? "
                     "ORDER BY month", [site_id, first, last])


def last_day(month: date) -> date:
    """The last day of `month`'s month."""
    return date.fromordinal(add_months(month, 1).toordinal() - 1)


def _closed_cohorts(cohorts: list[Row], end: date) -> tuple[Row | None, Row | None, int, date | None]:
    """Of one measure's network rows in cohort order: the latest whose windows closed by `end`, the
    latest of those with a shown rate, how many are still open, and (when none has closed) the day
    the first one will."""
    closed = [r for r in cohorts if r["window_closes_on"] <= end]
    still_open = [r for r in cohorts if r["window_closes_on"] > end]
    return (
        closed[-1] if closed else None,
        next((r for r in reversed(closed) if r["rate"] is not None), None),
        len(still_open),
        None if closed or not still_open else min(r["window_closes_on"] for r in still_open),
    )


def _sustained_response(con: duckdb.DuckDBPyConnection, month: date) -> list[SustainedResponse]:
    if not has_table(con, "reporting", "sustained_response"):
        return []
    network = rows(con, "SELECT * FROM reporting.sustained_response WHERE site_id = 'ALL' "
                        "AND cohort_month <= ? ORDER BY cohort_month", [month])
    keys = sorted({(r["instrument"], r["months_after_endpoint"]) for r in network},
                  key=lambda k: (_instrument_rank(k[0]), k[1]))
    end = last_day(month)
    return [SustainedResponse(instrument, months, *_closed_cohorts(
        [r for r in network if (r["instrument"], r["months_after_endpoint"]) == (instrument, months)], end))
        for instrument, months in keys]


def _quality_rates(con: duckdb.DuckDBPyConnection, month: date) -> list[QualityRate]:
    """Each standard rate's closed and open network cohorts up to the report month."""
    if not (has_table(con, "reporting", "quality_measures")
            and has_table(con, "reference", "quality_measure_rates")):
        return []
    definitions = {(r["measure_id"], r["measure"]): r
                   for r in rows(con, "SELECT * FROM reference.quality_measure_rates ORDER BY ALL")}
    network = rows(con, "SELECT * FROM reporting.quality_measures WHERE site_id = 'ALL' "
                        "AND cohort_month <= ? ORDER BY cohort_month", [month])
    end = last_day(month)
    found = []
    for key in [k for k in QUALITY_RATES if k in definitions] + sorted(set(definitions) - set(QUALITY_RATES)):
        cohorts = [r for r in network if (r["measure_id"], r["measure"]) == key]
        found.append(QualityRate(key[0], key[1], definitions[key], *_closed_cohorts(cohorts, end)))
    return found


def _quality_index_min(con: duckdb.DuckDBPyConnection) -> int | None:
    if not has_table(con, "reference", "quality_measure_rules"):
        return None
    found = con.execute("SELECT min(index_score_min) FROM reference.quality_measure_rules").fetchone()
    return None if found is None else found[0]


def _comparison(con: duckdb.DuckDBPyConnection, table: str, key_column: str, key: str, closed: str,
                month: date, extra: str = "") -> Comparison:
    """The latest quarter of `table` meeting `closed` (SQL over its row, `?` = the report month's last
    day), its network row and its site rows."""
    end = last_day(month)
    found = con.execute(
        f"SELECT max(period_start) FROM reporting.{table} WHERE period_type = 'quarter' AND {key_column} = ? "
        f"AND {closed} AND NOT is_provisional {extra}", [key, end]).fetchone()
    start = found[0] if found else None
    if start is None:
        return Comparison(key, None, None, None, [])
    quarter = rows(con, f"SELECT * FROM reporting.{table} WHERE period_type = 'quarter' AND period_start = ? "
                        f"AND {key_column} = ? {extra} ORDER BY site_id <> 'ALL', site_id", [start, key])
    network = next((r for r in quarter if r["site_id"] == ALL), None)
    sites = [r for r in quarter if r["site_id"] != ALL]
    return Comparison(key, start, quarter[0]["period_end"], network, sites)


def _response_comparison(con: duckdb.DuckDBPyConnection, month: date) -> list[Comparison]:
    if not has_table(con, "reporting", "response_rates_by_period"):
        return []
    return [_comparison(con, "response_rates_by_period", "instrument", instrument, "window_closes_on <= ?",
                        month, "AND measure = 'response'") for instrument in CHART_INSTRUMENTS]


def _ae_comparison(con: duckdb.DuckDBPyConnection, month: date) -> Comparison | None:
    if not has_table(con, "reporting", "adverse_events_by_period"):
        return None
    return _comparison(con, "adverse_events_by_period", "ae_term", "any", "period_end <= ?", month)


def read_report_data(con: duckdb.DuckDBPyConnection, month_key: str,
                     edition: Edition = EXTERNAL) -> ReportData:
    """Read every figure of the report for `month_key` ("YYYY-MM") from a published warehouse (the
    internal edition: from editions.report_source's views over the marts)."""
    month = month_of(month_key)
    rules = read_rules(con)
    cohort = add_months(month, -rules.headline_lag_months)
    trend_first = add_months(cohort, -(rules.trend_months - 1))
    pchart_first = add_months(month, -(rules.pchart_months - 1))

    instruments = {r["instrument"]: r
                   for r in rows(con, "SELECT * FROM reference.instruments ORDER BY instrument")}
    trend = rows(con, "SELECT * FROM reporting.response_rates WHERE site_id = 'ALL' "
                      "AND measure IN ('response', 'remission') AND cohort_month BETWEEN ? AND ? "
                      "ORDER BY cohort_month, instrument, measure", [trend_first, cohort])
    present = {r["instrument"] for r in trend}
    headline_instruments = sorted(present, key=_instrument_rank)

    by_infusion = [_cohort_series(con, "response_by_infusion", "rate", i, trend_first, cohort)
                   for i in CHART_INSTRUMENTS]
    trajectory_instruments = [i for i in INSTRUMENT_ORDER if i in CHART_INSTRUMENTS or i in present]
    trajectories = [_cohort_series(con, "score_trajectories", "mean_score", i, trend_first, cohort)
                    for i in trajectory_instruments]

    ae_labels = {r["ae_term"]: r["label"]
                 for r in rows(con, "SELECT ae_term, label FROM reference.ae_terms ORDER BY ae_term")}
    ae_labels.setdefault("any", "Any adverse event")
    ae_all = rows(con, "SELECT * FROM reporting.adverse_events WHERE month = ? AND site_id = 'ALL' "
                       "ORDER BY ae_term", [month])
    ae_any = next((r for r in ae_all if r["ae_term"] == "any"), None)
    ae_terms = [r for r in ae_all if r["ae_term"] != "any"]
    ae_terms.sort(key=lambda r: (r["rate_per_100_sessions"] is None, -(r["rate_per_100_sessions"] or 0),
                                 ae_labels.get(r["ae_term"], r["ae_term"])))

    signals = rows(con, "SELECT * FROM reporting.ae_control_chart WHERE month = ? AND signal "
                        "ORDER BY site_id <> 'ALL', site_id", [month])
    safety = rows(con, "SELECT * FROM reporting.safety_signal_counts WHERE month = ? "
                       "ORDER BY site_id <> 'ALL', site_id, reason", [month])
    file_accounting = rows(con, "SELECT * FROM reporting.file_accounting WHERE export_month = ? "
                                "ORDER BY export", [month_key])
    file_accounting.sort(key=lambda r: EXPORTS.index(r["export"]) if r["export"] in EXPORTS else 99)
    quarantine = rows(con, "SELECT * FROM reporting.quarantine_reasons WHERE export_month = ? "
                           "ORDER BY export, n_rows DESC NULLS LAST, reason", [month_key])

    outcome_measures = rows(con, "SELECT * FROM reference.outcome_measures ORDER BY ALL")
    outcome_measures.sort(key=lambda r: _instrument_rank(r["instrument"]))
    windows = rows(con, "SELECT * FROM reference.assessment_windows ORDER BY ALL")
    vital_labels = {}
    if has_table(con, "reference", "measure_codes"):  # optional: labels only, measure names otherwise
        vital_labels = {r["measure"]: r["label"] for r in rows(
            con, "SELECT DISTINCT measure, label FROM reference.measure_codes WHERE code_system = 'name' "
                 "ORDER BY ALL")}

    response_comparison = _response_comparison(con, month)
    ae_comparison = _ae_comparison(con, month)
    site_lines = [
        SiteLine(
            control["site_id"], control,
            next((r for r in ae_comparison.sites if r["site_id"] == control["site_id"]), None)
            if ae_comparison else None,
            {c.key: r for c in response_comparison for r in c.sites if r["site_id"] == control["site_id"]},
        )
        for control in rows(con, "SELECT * FROM reporting.ae_control_chart WHERE month = ? "
                                 "AND site_id <> 'ALL' ORDER BY site_id", [month])
    ]

    return ReportData(
        month=month,
        headline_cohort=cohort,
        rules=rules,
        build=read_build(con),
        instruments=instruments,
        headline_instruments=headline_instruments,
        headline=_headline(con, cohort, ALL),
        trend=trend,
        by_infusion=by_infusion,
        trajectories=trajectories,
        ae_terms=ae_terms,
        ae_any=ae_any,
        pchart=_control_series(con, ALL, pchart_first, month),
        signals=signals,
        safety=safety,
        file_accounting=file_accounting,
        quarantine=quarantine,
        outcome_measures=outcome_measures,
        vital_thresholds=rows(con, "SELECT * FROM reference.vital_thresholds"),
        assessment_windows=windows[0] if windows else {},
        ae_labels=ae_labels,
        vital_labels=vital_labels,
        site_lines=site_lines,
        response_comparison=response_comparison,
        ae_comparison=ae_comparison,
        quality=_quality_rates(con, month),
        quality_index_min=_quality_index_min(con),
        sustained=_sustained_response(con, month),
        relapse_curve=rows(con, "SELECT * FROM reporting.relapse_survival ORDER BY instrument, days")
        if has_table(con, "reporting", "relapse_survival") else [],
        relapse_rules=rows(con, "SELECT * FROM reference.relapse_rules ORDER BY instrument")
        if has_table(con, "reference", "relapse_rules") else [],
        edition=edition,
        previous_headline=_headline(con, add_months(cohort, -1), ALL),
        previous_ae_any=next(iter(rows(
            con, "SELECT * FROM reporting.adverse_events WHERE month = ? AND site_id = 'ALL' "
                 "AND ae_term = 'any'",
            [add_months(month, -1)])), None),
        benchmarks=rows(con, "SELECT * FROM reference.published_benchmarks "
                             "ORDER BY instrument NULLS LAST, measure DESC, benchmark_id")
        if has_table(con, "reference", "published_benchmarks") else [],
        attrition=rows(con, "SELECT * FROM reporting.response_rates WHERE site_id = 'ALL' "
                            "AND measure = 'response' "
                            "AND instrument IN ('PCL5', 'PHQ9') AND cohort_month BETWEEN ? AND ? "
                            "ORDER BY instrument, cohort_month", [trend_first, month]),
    )
