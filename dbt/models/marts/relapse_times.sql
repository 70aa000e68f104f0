-- One row per induction responder (course x instrument: PCL-5, PHQ-9) with at least one follow-up
-- score after the induction endpoint: the time to relapse, or to censoring at the last follow-up
-- score, in calendar days from the endpoint's date (relapse_rules: the response rule not met on
-- two consecutive administrations, dated at the first). The input of the Kaplan-Meier curves
-- (relapse_survival) and of relapse_summary. n_maintenance_sessions: the course's given sessions
-- after the endpoint up to the event's date (boosters), for sessions per patient-month.

with responders as (select * from {{ ref('int_induction_responders__selected') }}),
follow_ups as (select * from {{ ref('int_responder_follow_ups__listed') }}),
rules as (select * from {{ ref('relapse_rules') }}),

-- consecutive follow-ups that do not meet the rule form one run (gaps and islands)
runs as (

    select
        course_id,
        instrument,
        follow_up_number,
        is_responding,
        follow_up_number - row_number() over (
            partition by course_id, instrument, is_responding order by follow_up_number
        ) as run_key

    from follow_ups

),

failing_runs as (

    select course_id, instrument, run_key, min(follow_up_number) as first_number, count(*) as run_length
    from runs
    where not is_responding
    group by course_id, instrument, run_key

),

relapses as (

    select failing_runs.course_id, failing_runs.instrument, min(failing_runs.first_number) as relapse_number
    from failing_runs
    inner join rules
        on failing_runs.instrument = rules.instrument
    where failing_runs.run_length >= rules.consecutive_failures
    group by failing_runs.course_id, failing_runs.instrument

),

followed as (

    select course_id, instrument, max(follow_up_number) as n_follow_ups
    from follow_ups
    group by course_id, instrument

),

events as (

    select
        responders.*,
        followed.n_follow_ups,
        relapses.relapse_number is not null as has_relapsed,
        event.administered_at as event_at,
        event.administered_on as event_date,
        event.days_after_endpoint as days_to_event

    from responders
    inner join followed
        on responders.course_id = followed.course_id
        and responders.instrument = followed.instrument
    left join relapses
        on responders.course_id = relapses.course_id
        and responders.instrument = relapses.instrument
    inner join follow_ups as event
        on responders.course_id = event.course_id
        and responders.instrument = event.instrument
        and event.follow_up_number = coalesce(relapses.relapse_number, followed.n_follow_ups)

),

maintenance as (

    select events.course_id, events.instrument, count(sessions.session_id) as n_maintenance_sessions
    from events
    left join {{ ref('int_sessions__assigned_to_courses') }} as sessions
        on events.course_id = sessions.course_id
        and cast(sessions.session_start as date) > events.endpoint_date
        and cast(sessions.session_start as date) <= events.event_date
    group by events.course_id, events.instrument

)

select
    events.course_id,
    events.patient_id,
    events.site_id,
    events.cohort_month,
    events.instrument,
    events.endpoint_date,
    cast(events.n_follow_ups as integer) as n_follow_ups,
    events.has_relapsed,
    events.event_date,
    cast(events.days_to_event as integer) as days_to_event,
    cast(maintenance.n_maintenance_sessions as integer) as n_maintenance_sessions

from events
inner join maintenance
    on events.course_id = maintenance.course_id
    and events.instrument = maintenance.instrument
