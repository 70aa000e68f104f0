-- The ALL rows of adverse_events equal the sum of their site rows: each session counts for
-- its own site and once for ALL. Returns the cells that differ.

select
    month,
    ae_term,
    sum(case when site_id = 'ALL' then n_sessions else -n_sessions end) as sessions_difference,
    sum(case when site_id = 'ALL' then n_sessions_with_event else -n_sessions_with_event end)
        as with_event_difference,
    sum(case when site_id = 'ALL' then n_grade_3_plus else -n_grade_3_plus end) as grade_3_plus_difference,
    sum(case when site_id = 'ALL' then n_serious else -n_serious end) as serious_difference,
    sum(case when site_id = 'ALL' then n_stopped_early_for_event else -n_stopped_early_for_event end)
        as stopped_early_difference

from {{ ref('adverse_events') }}
group by month, ae_term
having sessions_difference <> 0
    or with_event_difference <> 0
    or grade_3_plus_difference <> 0
    or serious_difference <> 0
    or stopped_early_difference <> 0
