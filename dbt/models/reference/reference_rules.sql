-- The numeric rules this build used, one row each, for the monthly report and the quality
-- teams: the dbt vars of dbt_project.yml (where each is set, with its source) and the z of the
-- 95% intervals (macros/z_975.sql). The report reads its layout from here (the report_* rules),
-- so a rule changed in dbt_project.yml changes the marts, the reporting schema and the report
-- together, and the published file says which values they were built with.
{%- set descriptions = {
    'small_cell_max': "Small-cell suppression: counts of 1 to this value are never shown outside
        the quality team (reporting schema, monthly report), nor made derivable from other cells
        (CMS cell size suppression policy: no cell of 1-10).",
    'control_chart_baseline_months': "Adverse-event p-chart: the centre line p_bar pools this
        many calendar months before each month, the month itself excluded (marts.ae_control_chart;
        Benneyan 2001).",
    'control_chart_min_baseline_months': "Adverse-event p-chart: limits pooled from fewer months
        with sessions than this are provisional, drawn and labelled so, and raise no signal
        (marts.ae_control_chart; Benneyan 2001 asks for 20-25 subgroups; 6 is a design choice of
        this project so that a young site is charted at all).",
    'control_chart_sigma': "Adverse-event p-chart: control limits at p_bar +/- this many standard
        errors sqrt(p_bar (1 - p_bar) / n), the lower limit floored at 0 (Benneyan 2001: 3-sigma
        limits).",
    'severe_ae_grade_min': "A reported adverse event is severe from this CTCAE grade (CTCAE v5.0:
        3 severe, 4 life-threatening, 5 death): n_grade_3_plus of marts.adverse_events and the
        grade_3_plus safety signal.",
    'max_infusion_reported': "response_by_infusion and score_trajectories report infusions 1 to
        this number (an induction series is 6 infusions over about 2 weeks, Feder et
        al. 2021).",
    'z_975': "The 0.975 quantile of the standard normal: z of every published 95% interval, the
        Wilson score interval of a rate (Wilson 1927) and the normal-approximation interval of a
        mean score.",
    'report_headline_lag_months': "Monthly report: the headline cohort is the report month minus
        this many months, so that its courses' endpoint window (assessment_windows.endpoint_last_day)
        has closed by the end of the report month. Design choice of this project.",
    'report_trend_months': "Monthly report: the response-rate trend shows this many cohort months,
        ending with the headline cohort. Design choice of this project.",
    'report_pchart_months': "Monthly report: the adverse-event p-chart shows this many months,
        ending with the report month. Design choice of this project.",
    'relapse_survival_step_days': "Time to relapse in the reporting schema: the Kaplan-Meier curve
        is published every this many days after the induction endpoint (reporting.relapse_survival).
        Design choice of this project.",
    'relapse_survival_max_days': "Time to relapse in the reporting schema: the last day of the
        published Kaplan-Meier grid. Design choice of this project.",
} %}
{%- set not_vars = {'z_975': z_975()} %}

select
    cast(rule as string) as rule,
    cast(value as double) as value,
    cast(description as string) as description

from (values
    {%- for rule, description in descriptions.items() %}
    (
        '{{ rule }}',
        {{ not_vars[rule] if rule in not_vars else var(rule) }},
        '{{ description.split() | join(' ') | replace("'", "''") }}'
    ){{ ',' if not loop.last }}
    {%- endfor %}
) as rules (rule, value, description)
