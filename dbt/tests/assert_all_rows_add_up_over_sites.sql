-- The ALL rows of every mart with a site breakdown equal the sum of their site rows: each
-- course or session counts for exactly one site and once for ALL. Returns the cells that differ.

with response_rates as (

    select
        'response_rates' as mart,
        cohort_month as period,
        instrument || ' ' || measure as cell,
        sum(case when site_id = 'ALL' then n_eligible else -n_eligible end) as eligible_difference,
        sum(case when site_id = 'ALL' then n_met else -n_met end) as met_difference,
        sum(case when site_id = 'ALL' then n_missing_endpoint else -n_missing_endpoint end) as missing_difference

    from {{ ref('response_rates') }}
    group by cohort_month, instrument, measure

),

response_by_infusion as (

    select
        'response_by_infusion' as mart,
        cohort_month as period,
        instrument || ' ' || infusion_number as cell,
        sum(case when site_id = 'ALL' then n_assessed else -n_assessed end),
        sum(case when site_id = 'ALL' then n_responders else -n_responders end),
        0

    from {{ ref('response_by_infusion') }}
    group by cohort_month, instrument, infusion_number

),

adverse_events as (

    select
        'adverse_events' as mart,
        month as period,
        ae_term as cell,
        sum(case when site_id = 'ALL' then n_sessions else -n_sessions end),
        sum(case when site_id = 'ALL' then n_sessions_with_event else -n_sessions_with_event end),
        sum(case when site_id = 'ALL' then n_grade_3_plus + n_serious else -(n_grade_3_plus + n_serious) end)

    from {{ ref('adverse_events') }}
    group by month, ae_term

),

differences as (

    select * from response_rates
    union all
    select * from response_by_infusion
    union all
    select * from adverse_events

)

select * from differences
where eligible_difference <> 0 or met_difference <> 0 or missing_difference <> 0
