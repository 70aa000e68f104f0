{{ config(incremental_by_month('session_month')) }}

-- One row per given session and vital measure: the readings inside the derived-AE window,
-- from `minutes_before_start` (30) before the session start to `minutes_after_end` (120)
-- after the session end (start plus duration_min, a missing duration counting as 0), both
-- ends inclusive (derived_ae_window seed). Only the lowest and highest reading are kept, and
-- for the rise rules the last reading at or before the session start (pre-dose; of two at the
-- same minute the lower, so a rise is never understated) and the highest one after it: that is
-- all the threshold rules need.
--
-- Incremental by month of session start (macros/refresh_months.sql): a build replaces the
-- sessions of its refresh months. Vitals are ~95% of the warehouse's rows. Thresholds are
-- applied downstream; a change of derived_ae_window (a seed) changes the project, and the
-- transform step then rebuilds every month (pipelines/transform/refresh.py).

with sessions as (

    select * from {{ ref('stg_sessions') }}
    where is_given
        and {{ refresh_month_filter('session_month') }}

),

vitals as (

    select * from {{ ref('stg_vitals') }}
    -- read only the readings that can belong to sessions of the month range
    where {{ refresh_time_filter('measured_at', margin_days=1) }}

),

derived_ae_window as (select * from {{ ref('derived_ae_window') }})

select
    sessions.session_month,
    sessions.session_id,
    vitals.measure,
    cast(count(*) as integer) as n_readings,
    min(vitals.value) as min_value,
    max(vitals.value) as max_value,
    min(vitals.measured_at) as first_reading_at,
    max(vitals.measured_at) as last_reading_at,
    -- latest first; at the same time the lower value (the key falls with the value; readings < 1000)
    max_by(vitals.value, {{ epoch_seconds('vitals.measured_at') }} * 1000 - vitals.value)
        filter (where vitals.measured_at <= sessions.session_start) as pre_dose_value,
    max(vitals.value) filter (where vitals.measured_at > sessions.session_start) as max_value_after_start

from sessions
cross join derived_ae_window
inner join vitals
    on sessions.session_id = vitals.session_id
    and vitals.measured_at >= {{ add_seconds('sessions.session_start', '-60 * derived_ae_window.minutes_before_start') }}
    and vitals.measured_at <= {{ add_seconds('sessions.session_end', '60 * derived_ae_window.minutes_after_end') }}
group by sessions.session_month, sessions.session_id, vitals.measure
