-- marts.response_rates_by_period with nothing a reader could not already add up from
-- reporting.response_rates: a pooled count is shown only when every monthly count it sums is
-- shown there for the same site (macros/suppress_pooled_cells.sql); the rate and its interval
-- go with their counts. Calendar quarters and years only: no rolling windows.
{{ suppress_pooled_cells(
    pooled=ref('response_rates_by_period'),
    monthly=ref('reporting_response_rates'),
    month_column='cohort_month',
    keys=['site_id', 'instrument', 'measure'],
    counts=['n_eligible', 'n_met', 'n_missing_endpoint'],
    derived={'rate': ['n_met', 'n_eligible'], 'ci_low': ['n_met', 'n_eligible'], 'ci_high': ['n_met', 'n_eligible']},
    columns=['period_type', 'period_start', 'period_end', 'site_id', 'instrument', 'measure', 'n_cohort_months',
             'n_eligible', 'n_met', 'n_missing_endpoint', 'rate', 'ci_low', 'ci_high', 'window_closes_on',
             'is_provisional'],
) }}
