-- marts.response_by_infusion with small cells suppressed (macros/suppress_small_cells.sql);
-- non-responders (n_assessed - n_responders) are protected as well. n_assessed is hidden by
-- whole site blocks (cohort month x instrument, every infusion: macros/units_hidden_together.sql),
-- since a site's counts after infusions 1-6 and its baseline course count are tied by
-- inequalities; reporting.score_trajectories takes the same decisions for the same courses.

with cells as (

    {{ with_unit_decisions(ref('response_by_infusion'), after_infusion_units(), ['cohort_month', 'instrument']) }}

),

suppressed as (

    {{ suppress_small_cells(
        relation='cells',
        keys=['cohort_month', 'instrument', 'infusion_number'],
        counts=['n_assessed', 'n_responders'],
        also_primary={'n_responders': 'n_assessed - n_responders'},
        hidden_by={'n_assessed': hidden_with_unit('n_assessed')},
        derived={'rate': ['n_responders', 'n_assessed'], 'ci_low': ['n_responders', 'n_assessed'],
                 'ci_high': ['n_responders', 'n_assessed']},
        columns=['cohort_month', 'site_id', 'instrument', 'infusion_number', 'n_assessed', 'n_responders',
                 'rate', 'ci_low', 'ci_high'],
    ) }}

)

select * from suppressed
