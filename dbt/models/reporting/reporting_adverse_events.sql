-- marts.adverse_events with small cells suppressed (macros/suppress_small_cells.sql). Every
-- count is protected on its own; the rate and its interval go with either of their counts.
{{ suppress_small_cells(
    relation=ref('adverse_events'),
    keys=['month', 'ae_term'],
    counts=['n_sessions', 'n_sessions_with_event', 'n_grade_3_plus', 'n_serious', 'n_stopped_early_for_event'],
    derived={'rate_per_100_sessions': ['n_sessions_with_event', 'n_sessions'],
             'ci_low': ['n_sessions_with_event', 'n_sessions'],
             'ci_high': ['n_sessions_with_event', 'n_sessions']},
    columns=['month', 'site_id', 'ae_term', 'n_sessions', 'n_sessions_with_event', 'rate_per_100_sessions',
             'ci_low', 'ci_high', 'n_grade_3_plus', 'n_serious', 'n_stopped_early_for_event'],
) }}
