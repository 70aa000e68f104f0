-- marts.response_rates_by_period as it may leave the team: a quarter's pooled count over
-- reporting.response_rates (same site, instrument and measure) is shown where its months are,
-- or where at least two are hidden and sum to more than small_cell_max, with a second site
-- hidden where one alone would be; a year where all its quarters are (macros/suppress_pooled_cells.sql). The publish
-- step's attack decides the rest. Calendar quarters and years only: no rolling windows.
{{ suppress_pooled_cells(
    pooled=ref('response_rates_by_period'),
    monthly=ref('reporting_response_rates'),
    month_column='cohort_month',
    keys=['site_id', 'instrument', 'measure'],
    counts=['n_eligible', 'n_met', 'n_missing_endpoint'],
    also_primary={'n_met': 'n_eligible - n_met'},
    derived={'rate': ['n_met', 'n_eligible'], 'ci_low': ['n_met', 'n_eligible'], 'ci_high': ['n_met', 'n_eligible']},
    columns=['period_type', 'period_start', 'period_end', 'site_id', 'instrument', 'measure', 'n_cohort_months',
             'n_eligible', 'n_met', 'n_missing_endpoint', 'rate', 'ci_low', 'ci_high', 'window_closes_on',
             'is_provisional'],
) }}
