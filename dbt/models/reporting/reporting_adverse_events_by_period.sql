-- marts.adverse_events_by_period with nothing a reader could not already add up from
-- reporting.adverse_events: a pooled count is shown only when every monthly count it sums is
-- shown there for the same site and term (macros/suppress_pooled_cells.sql); the rate and its
-- interval go with their counts. Calendar quarters and years only: no rolling windows.
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
