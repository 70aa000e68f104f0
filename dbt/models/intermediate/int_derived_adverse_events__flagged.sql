{{ config(incremental_by_month('session_month')) }}

-- One row per given session and derived adverse-event term: a term is derived when any of
-- its vital_thresholds rules is met by a reading in the window (int_session_vitals__aggregated):
-- hypertension systolic >= 180 or diastolic >= 110 mmHg (hypertensive urgency, Hebert & Vidt
-- 2008), bp_rise a reading after the start >= 40 mmHg systolic or >= 25 diastolic above the
-- pre-dose reading (esketamine prescribing information), tachycardia heart rate > 120,
-- bradycardia < 50, desaturation SpO2 < 90% (monitoring defaults, design choices of this
-- project). Upper limits are checked against the highest reading, lower limits against the
-- lowest, rises against the highest reading after the start minus the pre-dose one.
-- Incremental by month of session start (macros/refresh_months.sql).

with session_vitals as (

    select * from {{ ref('int_session_vitals__aggregated') }}
    where {{ refresh_month_filter('session_month') }}

),

given_sessions as (

    -- drops sessions no longer in the export or no longer given
    select session_id from {{ ref('stg_sessions') }}
    where is_given
        and {{ refresh_month_filter('session_month') }}

),

thresholds as (select * from {{ ref('vital_thresholds') }}),

checked as (

    select
        session_vitals.session_month,
        session_vitals.session_id,
        thresholds.ae_term,
        thresholds.measure,
        thresholds.comparator,
        thresholds.threshold,
        case
            when thresholds.compares = 'rise_from_pre_dose'
                then session_vitals.max_value_after_start - session_vitals.pre_dose_value
            when thresholds.comparator in ('>=', '>') then session_vitals.max_value
            else session_vitals.min_value
        end as worst_value,
        thresholds.compares

    from session_vitals
    inner join given_sessions
        on session_vitals.session_id = given_sessions.session_id
    inner join thresholds
        on session_vitals.measure = thresholds.measure

),

breaches as (

    select * from checked
    where case comparator
        when '>=' then worst_value >= threshold
        when '>' then worst_value > threshold
        when '<' then worst_value < threshold
        when '<=' then worst_value <= threshold
    end

)

select
    session_id,
    ae_term,
    {{ ordered_text_list(
        "measure || case when compares = 'rise_from_pre_dose' then ' rise ' else ' ' end || worst_value",
        "'; '", 'measure') }} as evidence,
    session_month

from breaches
group by session_month, session_id, ae_term
