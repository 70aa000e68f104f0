-- One row per index event and follow-up window of the standard measures
-- (quality_measure_windows): the window's first and last dates, and the most recent complete
-- PHQ-9 in it (latest by time, then by response id, as every score of this project is chosen:
-- macros/latest_complete_administration.sql), or empty follow-up columns when there is none.
-- Windows count calendar days by date, both ends included: HEDIS DRR-E 120-240 days after the
-- index date; CMS159 and NQF 1885 the index date plus 12 calendar months, +/- 60 days.

with index_events as (select * from {{ ref('int_quality_index_events__selected') }}),
quality_windows as (select * from {{ ref('quality_measure_windows') }}),

anchors as (

    select
        index_events.index_response_id || '@' || quality_windows.window_name as anchor_id,
        index_events.index_response_id,
        index_events.patient_id,
        quality_windows.window_name,
        {{ add_days(add_months('index_events.index_date', 'quality_windows.anchor_months'), 'quality_windows.first_day') }}
            as window_opens_on,
        {{ add_days(add_months('index_events.index_date', 'quality_windows.anchor_months'), 'quality_windows.last_day') }}
            as window_closes_on

    from index_events
    cross join quality_windows

),

latest_in_window as (

    {{ latest_complete_administration(
        anchors='anchors',
        key='anchor_id',
        within="administration.instrument = 'PHQ9'
            and cast(administration.administered_at as date) between anchor.window_opens_on and anchor.window_closes_on",
        named='follow_up',
    ) }}

)

select
    anchors.index_response_id,
    anchors.window_name,
    anchors.window_opens_on,
    anchors.window_closes_on,
    latest_in_window.follow_up_response_id,
    latest_in_window.follow_up_at,
    latest_in_window.follow_up_score

from anchors
left join latest_in_window
    on anchors.anchor_id = latest_in_window.anchor_id
