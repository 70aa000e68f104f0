-- The ALL rows of response_rates equal the sum of their site rows: each course counts for
-- exactly one site (its first session's) and once for ALL. Returns the cells that differ.

select
    cohort_month,
    instrument,
    measure,
    sum(case when site_id = 'ALL' then n_eligible else -n_eligible end) as eligible_difference,
    sum(case when site_id = 'ALL' then n_met else -n_met end) as met_difference,
    sum(case when site_id = 'ALL' then n_missing_endpoint else -n_missing_endpoint end) as missing_difference

from {{ ref('response_rates') }}
group by cohort_month, instrument, measure
having eligible_difference <> 0 or met_difference <> 0 or missing_difference <> 0
