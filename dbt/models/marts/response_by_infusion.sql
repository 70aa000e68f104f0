-- Response after each infusion k = 1..6, per cohort month, site (plus ALL) and instrument
-- with a response measure. n_assessed: courses with an eligible baseline (as for response)
-- and an after-infusion-k score; n_responders: those whose after-infusion-k score meets the
-- response rule (PCL-5 >= 30% below baseline, as in the Osmind PTSD cohort: 27% after
-- infusion 1, 70% after infusion 6). Wilson 95% interval; empty for n_assessed = 0.

with courses as (select * from {{ ref('int_courses__summarized') }}),

responses as (

    -- infusions 1..max_infusion_reported
    select * from {{ ref('int_infusion_responses__evaluated') }}

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

-- every cohort month and site with a course has a row for every instrument and infusion
cells as (

    select
        cohorts.cohort_month,
        cohorts.site_id,
        response_instruments.instrument,
        cast(infusions.infusion_number as integer) as infusion_number

    from (select distinct cohort_month, site_id from courses) as cohorts
    cross join response_instruments
    cross join {{ integer_series(1, var('max_infusion_reported'), 'infusions', 'infusion_number') }}

),

-- each course counts for its site and for the whole network (ALL), zeros included
counts as (

    {{ network_counts(
        rows='course_responses',
        keys=['cohort_month', 'instrument', 'infusion_number'],
        counts={'n_assessed': 'count(*)', 'n_responders': 'count(*) filter (where is_responder)'},
        cells='cells',
    ) }}

)

select
    cohort_month,
    site_id,
    instrument,
    infusion_number,
    n_assessed,
    n_responders,
    {{ rate_with_wilson_interval('n_responders', 'n_assessed') }}

from counts
