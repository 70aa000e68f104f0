{{ config(incremental_by_month('session_month')) }}

-- One row per given session and adverse-event term, reported or derived from vitals:
-- source `reported`, `derived` or `both`, and the highest reported grade (CTCAE; empty when
-- only derived, vitals carry no grade). Incremental by month of session start
-- (macros/refresh_months.sql).

with reported as (

    select * from {{ ref('int_reported_adverse_events__parsed') }}
    where {{ refresh_month_filter('session_month') }}

),

derived as (

    select * from {{ ref('int_derived_adverse_events__flagged') }}
    where {{ refresh_month_filter('session_month') }}

)

select
    coalesce(reported.session_id, derived.session_id) as session_id,
    coalesce(reported.ae_term, derived.ae_term) as ae_term,
    case
        when reported.session_id is not null and derived.session_id is not null then 'both'
        when reported.session_id is not null then 'reported'
        else 'derived'
    end as source,
    reported.grade as reported_grade,
    derived.evidence as derived_evidence,
    coalesce(reported.session_month, derived.session_month) as session_month

from reported
full outer join derived
    on reported.session_id = derived.session_id
    and reported.ae_term = derived.ae_term
