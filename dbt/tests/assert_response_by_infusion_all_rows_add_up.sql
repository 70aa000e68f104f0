-- The ALL rows of response_by_infusion equal the sum of their site rows. Returns the cells
-- that differ.

select
    cohort_month,
    instrument,
    infusion_number,
    sum(case when site_id = 'ALL' then n_assessed else -n_assessed end) as assessed_difference,
    sum(case when site_id = 'ALL' then n_responders else -n_responders end) as responders_difference

from {{ ref('response_by_infusion') }}
group by cohort_month, instrument, infusion_number
having assessed_difference <> 0 or responders_difference <> 0
