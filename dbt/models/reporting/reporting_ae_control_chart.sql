{{ config(alias='ae_control_chart') }}
-- marts.ae_control_chart with small cells suppressed (macros/suppress_small_cells.sql). The
-- control limits give away n_sessions (ucl - p_bar = 3 sqrt(p_bar (1 - p_bar) / n)), so they
-- are hidden with it; p_bar pools the twelve months before and stays.
{{ suppress_small_cells(
    relation=ref('ae_control_chart'),
    keys=['month'],
    counts=['n_sessions', 'n_sessions_with_any_ae'],
    derived={'p': ['n_sessions_with_any_ae', 'n_sessions'], 'ucl': ['n_sessions'], 'lcl': ['n_sessions'],
             'signal': ['n_sessions_with_any_ae', 'n_sessions']},
    columns=['month', 'site_id', 'n_sessions', 'n_sessions_with_any_ae', 'p', 'p_bar', 'ucl', 'lcl', 'signal'],
) }}
