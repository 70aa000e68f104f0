-- One row per course, instrument and reported infusion k (1..var max_infusion_reported) for
-- every course with an eligible baseline for the instrument's `response` measure (as for
-- response rates) and an after-infusion-k score: whether that score meets the response rule of
-- the outcome_measures seed (PCL-5: >= 30% below baseline; PHQ-9, GAD-7: >= 50%). The one
-- population of response_by_infusion and score_trajectories, whose reporting tables hide the
-- same courses together (macros/suppress_after_infusion_counts.sql).

with baselines as (select * from {{ ref('int_course_baselines__selected') }}),

infusion_scores as (

    select * from {{ ref('int_infusion_scores__selected') }}
    where infusion_number between 1 and {{ var('max_infusion_reported') }}

),

measures as (

    select * from {{ ref('outcome_measures') }}
    where measure = 'response'

)

select
    infusion_scores.course_id,
    infusion_scores.instrument,
    infusion_scores.infusion_number,
    infusion_scores.session_id,
    baselines.baseline_score,
    infusion_scores.after_infusion_score,
    {{ outcome_rule_met('measures', 'baselines.baseline_score', 'infusion_scores.after_infusion_score') }}
        as is_responder

from infusion_scores
inner join baselines
    on infusion_scores.course_id = baselines.course_id
    and infusion_scores.instrument = baselines.instrument
inner join measures
    on infusion_scores.instrument = measures.instrument
where {{ outcome_baseline_eligible('measures', 'baselines.baseline_score') }}
