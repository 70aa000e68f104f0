-- One row per treatment course: its patient, the first session's site and start (which
-- define the cohort), and the number of infusions given (completed or stopped early).

with course_sessions as (select * from {{ ref('int_sessions__assigned_to_courses') }})

select
    course_id,
    patient_id,
    any_value(course_number) as course_number,
    min_by(site_id, infusion_number) as site_id,
    min(session_start) as course_start,
    cast(date_trunc('month', min(session_start)) as date) as cohort_month,
    max(session_start) as last_session_start,
    cast(count(*) as integer) as n_infusions

from course_sessions
group by course_id, patient_id
