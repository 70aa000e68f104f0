{{ config(meta={'dagster': {'ref': {'name': 'ae_control_chart'}}}) }}

-- ae_control_chart counts are the `any` rows of adverse_events, month by month and site by
-- site. Returns the rows that differ or are missing on either side. (The meta above tells
-- Dagster which asset this check belongs to, as the test reads two models.)

with chart as (

    select month, site_id, n_sessions, n_sessions_with_any_ae
    from {{ ref('ae_control_chart') }}

),

any_event as (

    select month, site_id, n_sessions, n_sessions_with_event
    from {{ ref('adverse_events') }}
    where ae_term = 'any'

)

select
    coalesce(chart.month, any_event.month) as month,
    coalesce(chart.site_id, any_event.site_id) as site_id

from chart
full outer join any_event
    on chart.month = any_event.month
    and chart.site_id = any_event.site_id
where chart.n_sessions is distinct from any_event.n_sessions
    or chart.n_sessions_with_any_ae is distinct from any_event.n_sessions_with_event
