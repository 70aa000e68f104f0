-- One row per given session (completed or stopped early; cancelled sessions do not count),
-- assigned to a treatment course. A patient's sessions are taken in start order; a new course
-- starts at the first session or after more than `new_course_gap_days` (90) calendar days
-- without one, compared by date: a gap of exactly 90 days continues the course, 91 starts a
-- new one (issue #4; design choice of this project). infusion_number counts 1.. within the
-- course.

with sessions as (

    select * from {{ ref('stg_sessions') }}
    where is_given

),

windows as (select * from {{ ref('assessment_windows') }}),

with_previous as (

    select
        sessions.*,
        {{ days_between('lag(sessions.session_start) over patient_sessions', 'sessions.session_start') }}
            as days_since_previous_session

    from sessions
    window patient_sessions as (partition by sessions.patient_id order by sessions.session_start, sessions.session_id)

),

course_starts as (

    select
        with_previous.*,
        days_since_previous_session is null
            or days_since_previous_session > windows.new_course_gap_days as starts_course

    from with_previous
    cross join windows

),

numbered as (

    select
        *,
        sum(case when starts_course then 1 else 0 end) over (
            partition by patient_id
            order by session_start, session_id
            rows between unbounded preceding and current row
        ) as course_number

    from course_starts

)

select
    session_id,
    patient_id,
    patient_id || '-C' || course_number as course_id,
    cast(course_number as integer) as course_number,
    cast(row_number() over course_sessions as integer) as infusion_number,
    site_id,
    session_start,
    session_end,
    session_month,
    lead(session_start) over course_sessions as next_session_start,
    cast(days_since_previous_session as integer) as days_since_previous_session,
    status

from numbered
window course_sessions as (partition by patient_id, course_number order by session_start, session_id)
