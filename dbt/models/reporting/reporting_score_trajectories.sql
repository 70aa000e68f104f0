{{ config(alias='score_trajectories') }}
-- marts.score_trajectories with small cells suppressed (macros/suppress_small_cells.sql): a
-- mean over 1-10 courses is hidden with its count. The standard deviation is not published.
{{ suppress_small_cells(
    relation=ref('score_trajectories'),
    keys=['cohort_month', 'instrument', 'timepoint'],
    counts=['n_courses'],
    derived={'mean_score': ['n_courses'], 'ci_low': ['n_courses'], 'ci_high': ['n_courses']},
    columns=['cohort_month', 'site_id', 'instrument', 'timepoint', 'n_courses', 'mean_score', 'ci_low', 'ci_high'],
) }}
