-- Sessions for clinical review: a reported adverse event of CTCAE grade >= 3 (severe,
-- life-threatening or death; var severe_ae_grade_min), a serious adverse event (21 CFR 312.32), or a PHQ-9 item 9
-- rise above the course baseline (int_safety_item_rises__detected). One row per session,
-- with every reason that applies.

with course_sessions as (select * from {{ ref('int_sessions__assigned_to_courses') }}),
sessions as (select * from {{ ref('stg_sessions') }}),
events as (select * from {{ ref('int_adverse_events__combined') }}),
item9_rises as (select * from {{ ref('int_safety_item_rises__detected') }}),

session_events as (

    select
        session_id,
        max(reported_grade) as max_reported_grade,
        {{ ordered_text_list("ae_term || ':' || reported_grade", "', '", 'ae_term',
                             where='reported_grade >= ' ~ var('severe_ae_grade_min')) }} as grade_3_plus_terms,
        {{ ordered_text_list("ae_term || ' (' || source || ')'", "', '", 'ae_term') }} as event_terms

    from events
    group by session_id

),

session_rises as (

    select
        session_id,
        min(baseline_item_value) as item9_baseline,
        max(item_value) as item9_highest

    from item9_rises
    group by session_id

),

flagged as (

    select
        course_sessions.session_id,
        course_sessions.patient_id,
        course_sessions.course_id,
        course_sessions.infusion_number,
        course_sessions.site_id,
        course_sessions.session_start,
        sessions.drug,
        sessions.route,
        sessions.status,
        sessions.stop_reason_code,
        coalesce(session_events.max_reported_grade >= {{ var('severe_ae_grade_min') }}, false) as has_grade_3_plus_event,
        coalesce(sessions.serious_adverse_event, false) as has_serious_event,
        session_rises.session_id is not null as has_item9_rise,
        session_events.max_reported_grade,
        session_events.grade_3_plus_terms,
        session_events.event_terms,
        session_rises.item9_baseline,
        session_rises.item9_highest

    from course_sessions
    inner join sessions
        on course_sessions.session_id = sessions.session_id
    left join session_events
        on course_sessions.session_id = session_events.session_id
    left join session_rises
        on course_sessions.session_id = session_rises.session_id

)

select
    session_id,
    patient_id,
    course_id,
    infusion_number,
    site_id,
    session_start,
    drug,
    route,
    status,
    stop_reason_code,
    has_grade_3_plus_event,
    has_serious_event,
    has_item9_rise,
    concat_ws(
        ', ',
        case when has_grade_3_plus_event then 'grade_3_plus' end,
        case when has_serious_event then 'serious' end,
        case when has_item9_rise then 'item9_rise' end
    ) as signal_reasons,
    cast(max_reported_grade as integer) as max_reported_grade,
    grade_3_plus_terms,
    event_terms,
    cast(item9_baseline as integer) as item9_baseline,
    cast(item9_highest as integer) as item9_highest

from flagged
where has_grade_3_plus_event or has_serious_event or has_item9_rise
