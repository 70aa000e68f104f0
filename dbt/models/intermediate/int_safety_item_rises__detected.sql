-- One row per PHQ-9 administration whose item 9 (thoughts of being better off dead or of
-- self-harm; the instruments seed's safety item) is higher than at its course's baseline,
-- with the session it is reviewed under: the administration's own session when it names a
-- given one, otherwise the patient's latest session started at or before it. The answer is
-- read even on an incomplete form (a safety answer is never ignored); the baseline is the
-- course's complete baseline (int_course_baselines__selected), its item 9 answer read where
-- every administration's is (int_administrations__scored.safety_item_value). Item 9 rises with
-- suicide-attempt risk (Simon et al., Psychiatr Serv); flagging a rise is a design choice of
-- this project (issue #4).

with administrations as (

    select * from {{ ref('int_administrations__scored') }}
    where safety_item_value is not null

),

course_sessions as (select * from {{ ref('int_sessions__assigned_to_courses') }}),
baselines as (select * from {{ ref('int_course_baselines__selected') }}),

latest_session_before as (

    select
        administrations.response_id,
        max_by(course_sessions.session_id, course_sessions.session_start) as session_id

    from administrations
    inner join course_sessions
        on administrations.patient_id = course_sessions.patient_id
        and course_sessions.session_start <= administrations.administered_at
    group by administrations.response_id

),

reviewed_under as (

    select
        administrations.response_id,
        administrations.instrument,
        administrations.administered_at,
        administrations.safety_item_value,
        coalesce(own_session.session_id, latest_session_before.session_id) as session_id

    from administrations
    left join course_sessions as own_session
        on administrations.session_id = own_session.session_id
    left join latest_session_before
        on administrations.response_id = latest_session_before.response_id

),

compared as (

    select
        reviewed_under.response_id,
        reviewed_under.session_id,
        course_sessions.course_id,
        course_sessions.patient_id,
        reviewed_under.instrument,
        reviewed_under.administered_at,
        baseline.safety_item_value as baseline_item_value,
        reviewed_under.safety_item_value as item_value

    from reviewed_under
    inner join course_sessions
        on reviewed_under.session_id = course_sessions.session_id
    inner join baselines
        on course_sessions.course_id = baselines.course_id
        and reviewed_under.instrument = baselines.instrument
    inner join administrations as baseline
        on baselines.baseline_response_id = baseline.response_id

)

select
    response_id,
    session_id,
    course_id,
    patient_id,
    instrument,
    administered_at,
    baseline_item_value,
    item_value

from compared
where item_value > baseline_item_value
