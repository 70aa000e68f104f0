-- One row per induction responder (course x instrument) and durability checkpoint
-- (durability_checkpoints: 3 and 6 calendar months after the induction endpoint's date,
-- +/- 30 days, both ends included, by date): the latest follow-up score in the window (time,
-- then response id), and whether it still meets the response rule. No score in the window:
-- has_score false, is_sustained empty (counted as missing, not as a loss of response).

with responders as (select * from {{ ref('int_induction_responders__selected') }}),
follow_ups as (select * from {{ ref('int_responder_follow_ups__listed') }}),
checkpoints as (select * from {{ ref('durability_checkpoints') }}),

windows as (

    select
        responders.course_id,
        responders.instrument,
        responders.site_id,
        responders.cohort_month,
        checkpoints.months_after_endpoint,
        {{ add_days(add_months('responders.endpoint_date', 'checkpoints.months_after_endpoint'),
                    '0 - checkpoints.half_width_days') }} as window_opens_on,
        {{ add_days(add_months('responders.endpoint_date', 'checkpoints.months_after_endpoint'),
                    'checkpoints.half_width_days') }} as window_closes_on

    from responders
    cross join checkpoints

),

latest_in_window as (

    select
        windows.course_id,
        windows.instrument,
        windows.months_after_endpoint,
        follow_ups.response_id,
        follow_ups.total_score,
        follow_ups.is_responding,
        row_number() over (
            partition by windows.course_id, windows.instrument, windows.months_after_endpoint
            order by follow_ups.administered_at desc, follow_ups.response_id desc
        ) as recency

    from windows
    inner join follow_ups
        on windows.course_id = follow_ups.course_id
        and windows.instrument = follow_ups.instrument
        and follow_ups.administered_on between windows.window_opens_on and windows.window_closes_on

)

select
    windows.course_id,
    windows.instrument,
    windows.site_id,
    windows.cohort_month,
    windows.months_after_endpoint,
    windows.window_opens_on,
    windows.window_closes_on,
    latest_in_window.response_id as follow_up_response_id,
    latest_in_window.total_score as follow_up_score,
    latest_in_window.response_id is not null as has_score,
    latest_in_window.is_responding as is_sustained

from windows
left join latest_in_window
    on windows.course_id = latest_in_window.course_id
    and windows.instrument = latest_in_window.instrument
    and windows.months_after_endpoint = latest_in_window.months_after_endpoint
    and latest_in_window.recency = 1
