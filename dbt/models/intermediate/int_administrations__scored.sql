{{ config(incremental_by_month('export_month')) }}

-- One row per questionnaire administration: completeness, total score, severity band,
-- probable PTSD (PCL-5) and the PHQ-9 item 9 safety flag.
-- Incremental by export month (macros/refresh_months.sql): an administration's answers are
-- one response of one export file, administered inside the file's month.
-- An administration missing any item is incomplete: it is kept and counted here, but its
-- total (and band) stays empty, so it is never scored into outcomes.

with answers as (

    select * from {{ ref('stg_questionnaires') }}
    where {{ refresh_month_filter('export_month') }}

),

instruments as (select * from {{ ref('instruments') }}),
severity_bands as (select * from {{ ref('severity_bands') }}),

administrations as (

    -- One response has one patient, instrument, time and session (export contract).
    select
        answers.response_id,
        answers.patient_id,
        answers.session_id,
        answers.instrument,
        answers.administered_at,
        answers.export_month,
        count(distinct answers.item) as n_items_answered,
        sum(answers.value) as answered_sum,
        max(case when answers.item = instruments.safety_item then answers.value end) as safety_item_value,
        any_value(instruments.n_items) as n_items,
        any_value(instruments.safety_item_flag_min) as safety_item_flag_min

    from answers
    inner join instruments
        on answers.instrument = instruments.instrument
    group by
        answers.response_id,
        answers.patient_id,
        answers.session_id,
        answers.instrument,
        answers.administered_at,
        answers.export_month

),

scored as (

    select
        *,
        n_items_answered = n_items as is_complete,
        case when n_items_answered = n_items then cast(answered_sum as integer) end as total_score

    from administrations

)

select
    scored.response_id,
    scored.patient_id,
    scored.session_id,
    scored.instrument,
    scored.administered_at,
    cast(scored.n_items_answered as integer) as n_items_answered,
    scored.is_complete,
    scored.total_score,
    severity_bands.band as severity_band,
    case
        when scored.instrument = 'PCL5' and scored.total_score is not null
            then severity_bands.band = 'probable_ptsd'
    end as is_probable_ptsd,
    -- The safety item is read even on an incomplete form: a safety answer is never ignored.
    scored.safety_item_value,
    scored.safety_item_value >= scored.safety_item_flag_min as is_safety_item_flagged,
    scored.export_month

from scored
left join severity_bands
    on scored.instrument = severity_bands.instrument
    and scored.total_score between severity_bands.score_min and severity_bands.score_max
