-- Completer rates per cohort month (month of the course's first session), site (the first
-- session's site, plus ALL), instrument and outcome measure. n_eligible counts courses with an
-- eligible baseline AND an endpoint; n_met those meeting the measure; courses with an
-- eligible baseline but no endpoint are counted in n_missing_endpoint, so attrition stays
-- visible. Wilson 95% interval; for n_eligible = 0 rate and interval are empty. Every cohort
-- month and site with a course has a row for every measure, zeros included. A cohort is
-- provisional while its endpoint window (the month's last day + endpoint_last_day) is still
-- open on the last day both exports have reached: endpoints may still arrive.

with courses as (select * from {{ ref('int_courses__summarized') }}),
outcomes as (select * from {{ ref('int_course_outcomes__evaluated') }}),
coverage as (select * from {{ ref('int_export_coverage__summarized') }}),
windows as (select * from {{ ref('assessment_windows') }}),

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

-- every cohort month and site with a course has a row for every measure
cells as (

    select cohorts.cohort_month, cohorts.site_id, measures.instrument, measures.measure
    from (select distinct cohort_month, site_id from courses) as cohorts
    cross join measures

),

-- each course counts for its site and for the whole network (ALL), zeros included
counts as (

    {{ network_counts(
        rows='course_outcomes',
        keys=['cohort_month', 'instrument', 'measure'],
        counts={
            'n_eligible': 'count(*) filter (where is_eligible and has_endpoint)',
            'n_met': 'count(*) filter (where is_met)',
            'n_missing_endpoint': 'count(*) filter (where is_eligible and not has_endpoint)',
        },
        cells='cells',
    ) }}

)

select
    cohort_month,
    site_id,
    instrument,
    measure,
    n_eligible,
    n_met,
    n_missing_endpoint,
    {{ rate_with_wilson_interval('n_met', 'n_eligible') }},
    {{ add_days('last_day(counts.cohort_month)', 'windows.endpoint_last_day') }} as window_closes_on,
    {{ add_days('last_day(counts.cohort_month)', 'windows.endpoint_last_day') }} > coverage.last_covered_day
        as is_provisional

from counts
cross join windows
cross join coverage
