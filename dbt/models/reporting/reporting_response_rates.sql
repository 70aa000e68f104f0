-- marts.response_rates with small cells suppressed (macros/suppress_small_cells.sql): the
-- non-responders (n_eligible - n_met) are protected as well, since a reader could subtract.
{{ suppress_small_cells(
    relation=ref('response_rates'),
    keys=['cohort_month', 'instrument', 'measure'],
    counts=['n_eligible', 'n_met', 'n_missing_endpoint'],
    also_primary={'n_met': 'n_eligible - n_met'},
    derived={'rate': ['n_met', 'n_eligible'], 'ci_low': ['n_met', 'n_eligible'], 'ci_high': ['n_met', 'n_eligible']},
    columns=['cohort_month', 'site_id', 'instrument', 'measure', 'n_eligible', 'n_met', 'n_missing_endpoint',
             'rate', 'ci_low', 'ci_high', 'window_closes_on', 'is_provisional'],
) }}
