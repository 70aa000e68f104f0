-- marts.score_trajectories with small cells suppressed (macros/suppress_small_cells.sql): a
-- mean over 1-10 courses is hidden with its count. The standard deviation is not published.
-- The courses are those of response_by_infusion (n_courses after infusion k = its n_assessed),
-- so n_courses is hidden by the same whole site blocks (macros/units_hidden_together.sql), the
-- baseline included: a site's after-infusion counts never exceed its baseline count.

with cells as (

    {{ with_unit_decisions(ref('score_trajectories'), after_infusion_units(), ['cohort_month', 'instrument']) }}

),

suppressed as (

    {{ suppress_small_cells(
        relation='cells',
        keys=['cohort_month', 'instrument', 'timepoint'],
        counts=['n_courses'],
        hidden_by={'n_courses': hidden_with_unit('n_courses')},
        derived={'mean_score': ['n_courses'], 'ci_low': ['n_courses'], 'ci_high': ['n_courses']},
        columns=['cohort_month', 'site_id', 'instrument', 'timepoint', 'n_courses', 'mean_score', 'ci_low',
                 'ci_high'],
    ) }}

)

select * from suppressed
