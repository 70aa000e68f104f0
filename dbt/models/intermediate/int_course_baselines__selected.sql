-- One row per course and instrument (those with outcome measures) that has a baseline: the
-- latest complete administration from `baseline_lookback_days` (30) calendar days before the
-- course's first session, by date, up to that session's start time. On the start day only an
-- administration before the start time counts (issue #4; design choice of this project).

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
    where cast(administrations.administered_at as date)
            >= cast(courses.course_start as date) - windows.baseline_lookback_days
        and administrations.administered_at < courses.course_start
    -- the latest one in the window
    qualify row_number() over (
        partition by courses.course_id, administrations.instrument
        order by administrations.administered_at desc, administrations.response_id desc
    ) = 1

)

select
    course_id,
    instrument,
    response_id as baseline_response_id,
    administered_at as baseline_at,
    total_score as baseline_score

from candidates
