-- One row per course and followed instrument (relapse_rules: PCL-5, PHQ-9) whose induction
-- endpoint met the response rule (int_course_outcomes__evaluated): the courses whose durability
-- is measured. The follow-up of a course ends where the patient's next course starts: its
-- scores belong to that course's baseline and endpoint.

with outcomes as (

    select * from {{ ref('int_course_outcomes__evaluated') }}
    where measure = 'response' and is_met
        and instrument in (select instrument from {{ ref('relapse_rules') }})

),

pairs as (select * from {{ ref('int_course_assessments__paired') }}),

courses as (

    select
        *,
        lead(course_start) over (partition by patient_id order by course_start, course_id) as next_course_start
    from {{ ref('int_courses__summarized') }}

)

select
    outcomes.course_id,
    courses.patient_id,
    courses.site_id,
    courses.cohort_month,
    courses.course_start,
    outcomes.instrument,
    outcomes.baseline_score,
    outcomes.endpoint_score,
    pairs.endpoint_response_id,
    pairs.endpoint_at,
    cast(pairs.endpoint_at as date) as endpoint_date,
    courses.next_course_start

from outcomes
inner join courses
    on outcomes.course_id = courses.course_id
inner join pairs
    on outcomes.course_id = pairs.course_id
    and outcomes.instrument = pairs.instrument
