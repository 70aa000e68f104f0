-- Completer rates per cohort month (month of the course's first session), site (the first
-- session's site, plus ALL), instrument and outcome measure. n_eligible counts courses with an
-- eligible baseline AND an endpoint; n_met those meeting the measure; courses with an
-- eligible baseline but no endpoint are counted in n_missing_endpoint, so attrition stays
-- visible. Wilson 95% interval; for n_eligible = 0 rate and interval are empty. Every cohort
-- month and site with a course has a row for every measure, zeros included.

with courses as (

    select * from {{ ref('int_courses__summarized') }}

),

outcomes as (

    select * from {{ ref('int_course_outcomes__evaluated') }}

),

measures as (

    select instrument, measure from {{ ref('outcome_measures') }}

),

course_outcomes as (

    select
        courses.cohort_month,
        courses.site_id,
        outcomes.instrument,
        outcomes.measure,
        outcomes.is_eligible,
        outcomes.has_endpoint,
        outcomes.is_met

    from outcomes
    inner join courses
        on outcomes.course_id = courses.course_id

),

-- every course counts for its site and for the whole network (ALL)
course_outcomes_with_network as (

    select * from course_outcomes
    union all
    select * replace ('ALL' as site_id) from course_outcomes

),

counts as (

    select
        cohort_month,
        site_id,
        instrument,
        measure,
        count(*) filter (where is_eligible and has_endpoint) as n_eligible,
        count(*) filter (where is_met) as n_met,
        count(*) filter (where is_eligible and not has_endpoint) as n_missing_endpoint

    from course_outcomes_with_network
    group by cohort_month, site_id, instrument, measure

),

cohorts as (

    select distinct cohort_month, site_id from courses
    union
    select distinct cohort_month, 'ALL' as site_id from courses

),

grid as (

    select cohorts.cohort_month, cohorts.site_id, measures.instrument, measures.measure
    from cohorts
    cross join measures

),

filled as (

    select
        grid.cohort_month,
        grid.site_id,
        grid.instrument,
        grid.measure,
        cast(coalesce(counts.n_eligible, 0) as integer) as n_eligible,
        cast(coalesce(counts.n_met, 0) as integer) as n_met,
        cast(coalesce(counts.n_missing_endpoint, 0) as integer) as n_missing_endpoint

    from grid
    left join counts
        on grid.cohort_month = counts.cohort_month
        and grid.site_id = counts.site_id
        and grid.instrument = counts.instrument
        and grid.measure = counts.measure

)

select
    cohort_month,
    site_id,
    instrument,
    measure,
    n_eligible,
    n_met,
    n_missing_endpoint,
    {{ proportion('n_met', 'n_eligible') }} as rate,
    {{ wilson_low('n_met', 'n_eligible') }} as ci_low,
    {{ wilson_high('n_met', 'n_eligible') }} as ci_high

from filled
