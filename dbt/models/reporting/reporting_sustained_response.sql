-- marts.sustained_response with small cells suppressed (macros/suppress_small_cells.sql). Courses
-- assessed whose response did not last (n_assessed - n_sustained) are protected as well. The
-- responders and the missing are not published here: n_responders is response_rates' n_met
-- (response) for the same cohort, site and instrument, hidden there by its own rules, and
-- n_missing = n_responders - n_assessed would give it back.
{{ suppress_small_cells(
    relation=ref('sustained_response'),
    keys=['cohort_month', 'instrument', 'months_after_endpoint'],
    counts=['n_assessed', 'n_sustained'],
    also_primary={'n_sustained': 'n_assessed - n_sustained'},
    derived={'rate': ['n_sustained', 'n_assessed'], 'ci_low': ['n_sustained', 'n_assessed'],
             'ci_high': ['n_sustained', 'n_assessed']},
    columns=['cohort_month', 'site_id', 'instrument', 'months_after_endpoint', 'n_assessed', 'n_sustained',
             'rate', 'ci_low', 'ci_high', 'window_closes_on', 'is_provisional'],
) }}
