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

events as (select * from {{ ref('int_adverse_events__combined') }}),

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

-- each session counts for its site and for the whole network (ALL)
session_counts as (

    {{ network_counts(rows='sessions', keys=['month'], counts={'n_sessions': 'count(*)'}) }}

),

-- every month and site with a session has a row for every term
cells as (

    select session_sites.month, session_sites.site_id, terms.ae_term
    from (select distinct month, site_id from sessions) as session_sites
    cross join terms

),

event_counts as (

    {{ network_counts(
        rows='session_events',
        keys=['month', 'ae_term'],
        counts={
            'n_sessions_with_event': 'count(*)',
            'n_grade_3_plus': 'count(*) filter (where reported_grade >= ' ~ var('severe_ae_grade_min') ~ ')',
            'n_serious': 'count(*) filter (where serious_adverse_event)',
            'n_stopped_early_for_event': "count(*) filter (where status = 'stopped_early')",
        },
        cells='cells',
    ) }}

),

filled as (

    select * from event_counts
    inner join session_counts using (month, site_id)

)

select
    month,
    site_id,
    ae_term,
    n_sessions,
    n_sessions_with_event,
    {{ rate_with_wilson_interval('n_sessions_with_event', 'n_sessions', rate='rate_per_100_sessions', per=100) }},
    n_grade_3_plus,
    n_serious,
    n_stopped_early_for_event

from filled
