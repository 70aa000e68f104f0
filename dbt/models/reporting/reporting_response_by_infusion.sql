-- marts.response_by_infusion with small cells suppressed (macros/suppress_small_cells.sql);
-- non-responders (n_assessed - n_responders) are protected as well. n_assessed is hidden by
-- whole site blocks (cohort month x instrument, every infusion: macros/units_hidden_together.sql),
-- since a site's counts after infusions 1-6 and its baseline course count are tied by
-- inequalities; reporting.score_trajectories takes the same decisions for the same courses
-- (macros/suppress_after_infusion_counts.sql).
{{ suppress_after_infusion_counts(
    relation=ref('response_by_infusion'),
    step='infusion_number',
    unit_count='n_assessed',
    counts=['n_assessed', 'n_responders'],
    also_primary={'n_responders': 'n_assessed - n_responders'},
    derived={'rate': ['n_responders', 'n_assessed'], 'ci_low': ['n_responders', 'n_assessed'],
             'ci_high': ['n_responders', 'n_assessed']},
    columns=['cohort_month', 'site_id', 'instrument', 'infusion_number', 'n_assessed', 'n_responders',
             'rate', 'ci_low', 'ci_high'],
) }}
