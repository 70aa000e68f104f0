-- One row per induction responder (course x instrument) and complete administration of the
-- instrument after its induction endpoint and before the patient's next course: the follow-up
-- scores durability is judged on, numbered in time order (ties by response id, as every score
-- of this project), each with whether it still meets the response rule against the course's
-- baseline (outcome_measures, the same rule as at the endpoint: macros/outcome_rule_met.sql).

with responders as (select * from {{ ref('int_induction_responders__selected') }}),

administrations as (

    select * from {{ ref('int_administrations__scored') }}
    where is_complete

),

response_rules as (

    select * from {{ ref('outcome_measures') }}
    where measure = 'response'

)

select
    responders.course_id,
    responders.instrument,
    administrations.response_id,
    administrations.administered_at,
    cast(administrations.administered_at as date) as administered_on,
    administrations.total_score,
    {{ days_between('responders.endpoint_at', 'administrations.administered_at') }} as days_after_endpoint,
    {{ outcome_rule_met('response_rules', 'responders.baseline_score', 'administrations.total_score') }}
        as is_responding,
    cast(row_number() over (
        partition by responders.course_id, responders.instrument
        order by administrations.administered_at, administrations.response_id
    ) as integer) as follow_up_number

from responders
inner join response_rules
    on responders.instrument = response_rules.instrument
inner join administrations
    on responders.patient_id = administrations.patient_id
    and responders.instrument = administrations.instrument
    and administrations.administered_at > responders.endpoint_at
    and (responders.next_course_start is null or administrations.administered_at < responders.next_course_start)
