-- marts.quality_measures with small cells suppressed (macros/suppress_small_cells.sql): the
-- patients not meeting a rate (n_denominator - n_numerator) are protected as well, since a
-- reader could subtract. All index-event rates of a cohort month and site share one
-- denominator, and the rule is deterministic in the values, so it is hidden alike in all.
{{ suppress_small_cells(
    relation=ref('quality_measures'),
    keys=['cohort_month', 'measure_id', 'measure'],
    counts=['n_denominator', 'n_numerator'],
    also_primary={'n_numerator': 'n_denominator - n_numerator'},
    derived={'rate': ['n_numerator', 'n_denominator'], 'ci_low': ['n_numerator', 'n_denominator'],
             'ci_high': ['n_numerator', 'n_denominator']},
    columns=['cohort_month', 'site_id', 'measure_id', 'measure', 'n_denominator', 'n_numerator', 'rate',
             'ci_low', 'ci_high', 'window_closes_on', 'is_provisional', 'adapted_from',
             'exclusions_not_applied', 'age_note'],
) }}
