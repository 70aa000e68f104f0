-- One row per course and outcome measure of the instrument, for every course with a complete
-- baseline of that instrument: whether the baseline makes the course eligible, whether it has
-- an endpoint, and whether the endpoint meets the measure. The rule comes from the
-- outcome_measures seed and is applied generically (macro outcome_rule_met); is_met is empty
-- unless the course is eligible and has an endpoint (completer rates, issue #4).

with pairs as (

    select * from {{ ref('int_course_assessments__paired') }}
    where baseline_score is not null

),

measures as (select * from {{ ref('outcome_measures') }}),

answers as (

    select response_id, item, value from {{ ref('stg_questionnaires') }}

),

evaluated as (

    select
        pairs.course_id,
        measures.instrument,
        measures.measure,
        pairs.baseline_score,
        pairs.endpoint_score,
        baseline_answer.value as baseline_item_value,
        endpoint_answer.value as endpoint_item_value,
        {{ outcome_baseline_eligible('measures', 'pairs.baseline_score') }} as is_eligible,
        pairs.endpoint_score is not null as has_endpoint,
        {{ outcome_rule_met(
            'measures', 'pairs.baseline_score', 'pairs.endpoint_score',
            'baseline_answer.value', 'endpoint_answer.value'
        ) }} as rule_met

    from pairs
    inner join measures
        on pairs.instrument = measures.instrument
    -- item_increase rules compare one item's answers (PHQ-9 item 9)
    left join answers as baseline_answer
        on pairs.baseline_response_id = baseline_answer.response_id
        and measures.item = baseline_answer.item
    left join answers as endpoint_answer
        on pairs.endpoint_response_id = endpoint_answer.response_id
        and measures.item = endpoint_answer.item

)

select
    course_id,
    instrument,
    measure,
    baseline_score,
    endpoint_score,
    baseline_item_value,
    endpoint_item_value,
    is_eligible,
    has_endpoint,
    case when is_eligible and has_endpoint then rule_met end as is_met

from evaluated
