-- One row per scheduled session, as validated by the pipeline, with its end time and
-- whether it was given (session_statuses seed: completed or stopped early; cancelled sessions
-- count nowhere).
-- stop_reason is free text: it is coded here (stop_reasons seed) and only the code goes on;
-- the text stays in the build file (issue #12).

with source as (select * from {{ source('staging', 'sessions') }}),

stop_reasons as (

    select phrase, stop_reason_code from {{ ref('stop_reasons') }}
    where phrase is not null

),

session_statuses as (

    select status, is_given from {{ ref('session_statuses') }}

)

select
    session_id,
    patient_id,
    site_id,
    clinician_id,
    session_start,
    -- A missing duration counts as 0 minutes (issue #4), so the session ends at its start.
    {{ add_seconds('session_start', 'coalesce(duration_min, 0) * 60') }} as session_end,
    {{ month_text('session_start') }} as session_month,
    drug,
    route,
    dose_mg,
    weight_kg,
    duration_min,
    source.status,
    -- a status the seed does not list is not given (the relationships test on status reports it)
    coalesce(session_statuses.is_given, false) as is_given,
    stop_reason,
    case
        when nullif(trim(stop_reason), '') is null then null
        else coalesce(
            (select stop_reasons.stop_reason_code from stop_reasons
             where stop_reasons.phrase = lower({{ collapse_whitespace('trim(source.stop_reason)') }})),
            'other'
        )
    end as stop_reason_code,
    adverse_events,
    serious_adverse_event,
    age_band,
    sex,
    indication,
    export_month,
    source_file,
    line_number

from source
left join session_statuses
    on source.status = session_statuses.status
