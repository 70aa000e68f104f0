-- One row per treatment course and instrument (PCL-5, PHQ-9, GAD-7) with a baseline, an
-- endpoint or both: scores and dates, change, and one flag per outcome measure. A flag is
-- empty when the measure does not apply to the instrument, the baseline does not make the
-- course eligible, or there is no endpoint.

with courses as (select * from {{ ref('int_courses__summarized') }}),
pairs as (select * from {{ ref('int_course_assessments__paired') }}),
outcomes as (select * from {{ ref('int_course_outcomes__evaluated') }}),

flags as (

    select
        course_id,
        instrument,
        bool_or(is_met) filter (where measure = 'response') as response,
        bool_or(is_met) filter (where measure = 'remission') as remission,
        bool_or(is_met) filter (where measure = 'meaningful_improvement') as meaningful_improvement,
        bool_or(is_met) filter (where measure = 'deterioration') as deterioration,
        bool_or(is_met) filter (where measure = 'item9_worsened') as item9_worsened

    from outcomes
    group by course_id, instrument

)

select
    courses.patient_id,
    pairs.course_id,
    pairs.instrument,
    courses.site_id,
    courses.course_start,
    courses.n_infusions,
    pairs.baseline_score,
    cast(pairs.baseline_at as date) as baseline_date,
    pairs.endpoint_score,
    cast(pairs.endpoint_at as date) as endpoint_date,
    pairs.endpoint_score - pairs.baseline_score as change,
    case
        when pairs.baseline_score > 0
            then 100 * cast(pairs.endpoint_score - pairs.baseline_score as double) / pairs.baseline_score
    end as percent_change,
    flags.response,
    flags.remission,
    flags.meaningful_improvement,
    flags.deterioration,
    flags.item9_worsened

from pairs
inner join courses
    on pairs.course_id = courses.course_id
left join flags
    on pairs.course_id = flags.course_id
    and pairs.instrument = flags.instrument
