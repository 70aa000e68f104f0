-- One row per course and instrument (those with outcome measures) that has an endpoint: the
-- latest complete administration `endpoint_first_day` to `endpoint_last_day` (14 to 42)
-- calendar days after the course's first session, inclusive, by date (issue #4).

with courses as (

    select * from {{ ref('int_courses__summarized') }}

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
        courses.course_id,
        administrations.instrument,
        administrations.response_id,
        administrations.administered_at,
        administrations.total_score

    from courses
    cross join windows
    inner join administrations
        on courses.patient_id = administrations.patient_id
    where date_diff('day', cast(courses.course_start as date), cast(administrations.administered_at as date))
        between windows.endpoint_first_day and windows.endpoint_last_day
    -- the latest one in the window
    qualify row_number() over (
        partition by courses.course_id, administrations.instrument
        order by administrations.administered_at desc, administrations.response_id desc
    ) = 1

)

select
    course_id,
    instrument,
    response_id as endpoint_response_id,
    administered_at as endpoint_at,
    total_score as endpoint_score

from candidates
