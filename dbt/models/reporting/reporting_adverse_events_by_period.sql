-- marts.adverse_events_by_period as it may leave the team: a quarter's pooled count over
-- reporting.adverse_events (same site and term) is shown where its months are, or where at least
-- two are hidden and sum to more than small_cell_max, with a second site hidden where one alone
-- would be; a year where all its quarters are (macros/suppress_pooled_cells.sql). The publish
-- step's attack decides the rest. Calendar quarters and years only: no rolling windows.
{{ suppress_pooled_cells(
    pooled=ref('adverse_events_by_period'),
    monthly=ref('reporting_adverse_events'),
    month_column='month',
    keys=['site_id', 'ae_term'],
    counts=['n_sessions', 'n_sessions_with_event', 'n_grade_3_plus', 'n_serious'],
    derived={'rate_per_100_sessions': ['n_sessions_with_event', 'n_sessions'],
             'ci_low': ['n_sessions_with_event', 'n_sessions'], 'ci_high': ['n_sessions_with_event', 'n_sessions']},
    columns=['period_type', 'period_start', 'period_end', 'site_id', 'ae_term', 'n_months', 'n_sessions',
             'n_sessions_with_event', 'rate_per_100_sessions', 'ci_low', 'ci_high', 'n_grade_3_plus', 'n_serious',
             'is_provisional'],
) }}
