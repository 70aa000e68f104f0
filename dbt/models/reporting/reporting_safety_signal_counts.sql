-- marts.safety_signal_counts with small cells suppressed (macros/suppress_small_cells.sql).
{{ suppress_small_cells(
    relation=ref('safety_signal_counts'),
    keys=['month', 'reason'],
    counts=['n_sessions_given', 'n_sessions'],
    columns=['month', 'site_id', 'reason', 'n_sessions_given', 'n_sessions'],
) }}
