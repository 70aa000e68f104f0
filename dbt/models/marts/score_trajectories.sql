-- Mean PCL-5 / PHQ-9 / GAD-7 total score over the first infusions, per cohort month x site
-- (plus ALL) x instrument x timepoint: 0 = the course baseline, k = the after-infusion-k score
-- (1..max_infusion_reported). Population: courses with an eligible baseline for the
-- instrument's `response` measure and at least one after-infusion score, the same courses as
-- response_by_infusion. Each timepoint averages the courses assessed then, so later points
-- cover fewer courses (n_courses says how many). 95% interval of the mean: mean +/- z_975
-- (1.96) standard deviation / sqrt(n) (normal approximation; reported cells have n > 10 after
-- suppression); empty for n < 2.

with courses as (select * from {{ ref('int_courses__summarized') }}),

responses as (

    -- infusions 1..max_infusion_reported
    select * from {{ ref('int_infusion_responses__evaluated') }}

),

-- the baseline once per course and instrument, as timepoint 0
scores as (

    select distinct course_id, instrument, 0 as timepoint, baseline_score as score
    from responses
    union all
    select course_id, instrument, infusion_number as timepoint, after_infusion_score as score
    from responses

),

course_scores as (

    select courses.cohort_month, courses.site_id, scores.instrument, scores.timepoint, scores.score
    from scores
    inner join courses
        on scores.course_id = courses.course_id

),

-- each course counts for its site and for the whole network (ALL)
course_scores_with_network as (

    {{ network_rows('course_scores', 'network_site_id') }}

),

summary as (

    select
        cohort_month,
        network_site_id as site_id,
        instrument,
        cast(timepoint as integer) as timepoint,
        cast(count(*) as integer) as n_courses,
        avg(score) as mean_score,
        stddev_samp(score) as sd_score

    from course_scores_with_network
    group by cohort_month, network_site_id, instrument, timepoint

)

select
    cohort_month,
    site_id,
    instrument,
    timepoint,
    n_courses,
    mean_score,
    sd_score,
    case when n_courses >= 2 then mean_score - {{ z_975() }} * sd_score / sqrt(n_courses) end as ci_low,
    case when n_courses >= 2 then mean_score + {{ z_975() }} * sd_score / sqrt(n_courses) end as ci_high

from summary
