-- Response after each infusion k = 1..6, per cohort month, site (plus ALL) and instrument
-- with a response measure. n_assessed: courses with an eligible baseline (as for response)
-- and an after-infusion-k score; n_responders: those whose after-infusion-k score meets the
-- response rule (PCL-5 >= 30% below baseline, as in the Osmind PTSD cohort: 27% after
-- infusion 1, 70% after infusion 6). Wilson 95% interval; empty for n_assessed = 0.

with courses as (

    select * from {{ ref('int_courses__summarized') }}

),

responses as (

    select * from {{ ref('int_infusion_responses__evaluated') }}
    where infusion_number between 1 and {{ var('max_infusion_reported') }}

),

response_instruments as (

    select instrument from {{ ref('outcome_measures') }}
    where measure = 'response'

),

course_responses as (

    select
        courses.cohort_month,
        courses.site_id,
        responses.instrument,
        responses.infusion_number,
        responses.is_responder

    from responses
    inner join courses
        on responses.course_id = courses.course_id

),

-- every course counts for its site and for the whole network (ALL)
course_responses_with_network as (

    select * from course_responses
    union all
    select * replace ('ALL' as site_id) from course_responses

),

counts as (

    select
        cohort_month,
        site_id,
        instrument,
        infusion_number,
        count(*) as n_assessed,
        count(*) filter (where is_responder) as n_responders

    from course_responses_with_network
    group by cohort_month, site_id, instrument, infusion_number

),

cohorts as (

    select distinct cohort_month, site_id from courses
    union
    select distinct cohort_month, 'ALL' as site_id from courses

),

grid as (

    select
        cohorts.cohort_month,
        cohorts.site_id,
        response_instruments.instrument,
        cast(infusions.infusion_number as integer) as infusion_number

    from cohorts
    cross join response_instruments
    cross join generate_series(1, {{ var('max_infusion_reported') }}) as infusions (infusion_number)

),

filled as (

    select
        grid.cohort_month,
        grid.site_id,
        grid.instrument,
        grid.infusion_number,
        cast(coalesce(counts.n_assessed, 0) as integer) as n_assessed,
        cast(coalesce(counts.n_responders, 0) as integer) as n_responders

    from grid
    left join counts
        on grid.cohort_month = counts.cohort_month
        and grid.site_id = counts.site_id
        and grid.instrument = counts.instrument
        and grid.infusion_number = counts.infusion_number

)

select
    cohort_month,
    site_id,
    instrument,
    infusion_number,
    n_assessed,
    n_responders,
    {{ proportion('n_responders', 'n_assessed') }} as rate,
    {{ wilson_low('n_responders', 'n_assessed') }} as ci_low,
    {{ wilson_high('n_responders', 'n_assessed') }} as ci_high

from filled
