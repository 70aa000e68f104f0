-- One row per given session (infusion k of its course) and instrument (those with outcome
-- measures) that has an after-infusion score: the latest complete administration after
-- session k starts and before session k+1 of the course starts; after the course's last
-- session, within `after_infusion_max_days` (7) calendar days of it, by date (issue #4).

with course_sessions as (

    select * from {{ ref('int_sessions__assigned_to_courses') }}

),

administrations as (

    select * from {{ ref('int_administrations__scored') }}
    where is_complete
        and instrument in (select instrument from {{ ref('outcome_measures') }})

),

windows as (

    select * from {{ ref('assessment_windows') }}

),

candidates as (

    select
        course_sessions.session_id,
        course_sessions.course_id,
        course_sessions.infusion_number,
        administrations.instrument,
        administrations.response_id,
        administrations.administered_at,
        administrations.total_score

    from course_sessions
    cross join windows
    inner join administrations
        on course_sessions.patient_id = administrations.patient_id
    where administrations.administered_at > course_sessions.session_start
        and (
            administrations.administered_at < course_sessions.next_session_start
            or (
                course_sessions.next_session_start is null
                and date_diff(
                    'day',
                    cast(course_sessions.session_start as date),
                    cast(administrations.administered_at as date)
                ) <= windows.after_infusion_max_days
            )
        )
    -- the latest one in the window
    qualify row_number() over (
        partition by course_sessions.session_id, administrations.instrument
        order by administrations.administered_at desc, administrations.response_id desc
    ) = 1

)

select
    session_id,
    course_id,
    infusion_number,
    instrument,
    response_id as after_infusion_response_id,
    administered_at as after_infusion_at,
    total_score as after_infusion_score

from candidates
