-- Adverse events per month of session start, site (plus ALL) and term: every controlled
-- and derived term of the ae_terms seed, plus `any`. Denominator: sessions given (completed or
-- stopped early). A session counts once per term, whether the event was reported, derived
-- from vitals or both. `any` counts sessions with at least one event of any term or flagged
-- serious. Rates per 100 sessions with a Wilson 95% interval on the same scale; empty when
-- there were no sessions. Every month and site with a session has a row for every term.

with sessions as (

    select
        session_id,
        site_id,
        cast(date_trunc('month', session_start) as date) as month,
        status,
        serious_adverse_event

    from {{ ref('stg_sessions') }}
    where is_given

),

events as (

    select * from {{ ref('int_adverse_events__combined') }}

),

terms as (

    select ae_term from {{ ref('ae_terms') }}
    union all
    select 'any' as ae_term

),

any_event as (

    -- a session with any event term, or one the export flags serious (21 CFR 312.32)
    select
        session_id,
        'any' as ae_term,
        max(reported_grade) as reported_grade

    from (
        select session_id, reported_grade from events
        union all
        select session_id, null as reported_grade from sessions where serious_adverse_event
    ) as any_events
    group by session_id

),

session_events as (

    select
        sessions.month,
        sessions.site_id,
        sessions.session_id,
        sessions.status,
        sessions.serious_adverse_event,
        term_events.ae_term,
        term_events.reported_grade

    from (
        select session_id, ae_term, reported_grade from events
        union all
        select session_id, ae_term, reported_grade from any_event
    ) as term_events
    inner join sessions
        on term_events.session_id = sessions.session_id

),

-- every session counts for its site and for the whole network (ALL)
sessions_with_network as (

    select * from sessions
    union all
    select * replace ('ALL' as site_id) from sessions

),

session_events_with_network as (

    select * from session_events
    union all
    select * replace ('ALL' as site_id) from session_events

),

session_counts as (

    select month, site_id, count(*) as n_sessions
    from sessions_with_network
    group by month, site_id

),

event_counts as (

    select
        month,
        site_id,
        ae_term,
        count(*) as n_sessions_with_event,
        count(*) filter (where reported_grade >= 3) as n_grade_3_plus,
        count(*) filter (where serious_adverse_event) as n_serious,
        count(*) filter (where status = 'stopped_early') as n_stopped_early_for_event

    from session_events_with_network
    group by month, site_id, ae_term

),

filled as (

    select
        session_counts.month,
        session_counts.site_id,
        terms.ae_term,
        cast(session_counts.n_sessions as integer) as n_sessions,
        cast(coalesce(event_counts.n_sessions_with_event, 0) as integer) as n_sessions_with_event,
        cast(coalesce(event_counts.n_grade_3_plus, 0) as integer) as n_grade_3_plus,
        cast(coalesce(event_counts.n_serious, 0) as integer) as n_serious,
        cast(coalesce(event_counts.n_stopped_early_for_event, 0) as integer) as n_stopped_early_for_event

    from session_counts
    cross join terms
    left join event_counts
        on session_counts.month = event_counts.month
        and session_counts.site_id = event_counts.site_id
        and terms.ae_term = event_counts.ae_term

)

select
    month,
    site_id,
    ae_term,
    n_sessions,
    n_sessions_with_event,
    100 * {{ proportion('n_sessions_with_event', 'n_sessions') }} as rate_per_100_sessions,
    100 * {{ wilson_low('n_sessions_with_event', 'n_sessions') }} as ci_low,
    100 * {{ wilson_high('n_sessions_with_event', 'n_sessions') }} as ci_high,
    n_grade_3_plus,
    n_serious,
    n_stopped_early_for_event

from filled
