-- marts.score_trajectories with small cells suppressed (macros/suppress_small_cells.sql): a
-- mean over 1-10 courses is hidden with its count. The standard deviation is not published.
-- The courses are those of response_by_infusion (n_courses after infusion k = its n_assessed),
-- so n_courses is hidden by the same whole site blocks (macros/units_hidden_together.sql), the
-- baseline included: a site's after-infusion counts never exceed its baseline count
-- (macros/suppress_after_infusion_counts.sql).
{{ suppress_after_infusion_counts(
    relation=ref('score_trajectories'),
    step='timepoint',
    unit_count='n_courses',
    counts=['n_courses'],
    derived={'mean_score': ['n_courses'], 'ci_low': ['n_courses'], 'ci_high': ['n_courses']},
    columns=['cohort_month', 'site_id', 'instrument', 'timepoint', 'n_courses', 'mean_score', 'ci_low',
             'ci_high'],
) }}
