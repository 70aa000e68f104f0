{{ config(alias='response_by_infusion') }}
-- marts.response_by_infusion with small cells suppressed (macros/suppress_small_cells.sql);
-- non-responders (n_assessed - n_responders) are protected as well.
{{ suppress_small_cells(
    relation=ref('response_by_infusion'),
    keys=['cohort_month', 'instrument', 'infusion_number'],
    counts=['n_assessed', 'n_responders'],
    also_primary={'n_responders': 'n_assessed - n_responders'},
    derived={'rate': ['n_responders', 'n_assessed'], 'ci_low': ['n_responders', 'n_assessed'],
             'ci_high': ['n_responders', 'n_assessed']},
    columns=['cohort_month', 'site_id', 'instrument', 'infusion_number', 'n_assessed', 'n_responders',
             'rate', 'ci_low', 'ci_high'],
) }}
