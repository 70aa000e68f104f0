-- Sessions for clinical review per month of session start x site (plus ALL) x reason, counted
-- from safety_signals (one row per session, every reason that applies): a reported adverse
-- event of CTCAE grade >= 3, a serious adverse event (21 CFR 312.32), a PHQ-9 item 9 rise over
-- the course baseline (Simon et al.; design choice of this project), and `any`. A session with
-- two reasons counts once under each and once under `any`. Every month and site with a given
-- session (the `any` rows of adverse_events) has a row for every reason, zeros included, so
-- the monthly report can say "none". n_sessions: sessions with the reason; n_sessions_given:
-- sessions given in the month at the site (0 when the only sessions were cancelled ones carrying a signal).

with signals as (

    select
        cast(date_trunc('month', session_start) as date) as month,
        site_id,
        has_grade_3_plus_event,
        has_serious_event,
        has_item9_rise

    from {{ ref('safety_signals') }}

),

-- each session counts for its site and for the whole network (ALL)
counts as (

    {{ network_counts(
        rows='signals',
        keys=['month'],
        counts={
            'grade_3_plus': 'count(*) filter (where has_grade_3_plus_event)',
            'serious': 'count(*) filter (where has_serious_event)',
            'item9_rise': 'count(*) filter (where has_item9_rise)',
            'any_reason': 'count(*)',
        },
    ) }}

),

given_sessions as (

    select month, site_id, n_sessions from {{ ref('adverse_events') }}
    where ae_term = 'any'

),

-- a signal can sit on a cancelled session (an item 9 rise shown under the patient's latest
-- session), so months with signals but no given session keep their row too
months_with_sessions as (

    select
        coalesce(given_sessions.month, counts.month) as month,
        coalesce(given_sessions.site_id, counts.site_id) as site_id,
        cast(coalesce(given_sessions.n_sessions, 0) as integer) as n_sessions_given

    from given_sessions
    full outer join counts
        on given_sessions.month = counts.month
        and given_sessions.site_id = counts.site_id

),

reasons as (

    select * from (values ('grade_3_plus', 1), ('serious', 2), ('item9_rise', 3), ('any', 4))
        as reasons (reason, reason_order)

)

select
    months_with_sessions.month,
    months_with_sessions.site_id,
    reasons.reason,
    months_with_sessions.n_sessions_given,
    cast(coalesce(
        case reasons.reason
            when 'grade_3_plus' then counts.grade_3_plus
            when 'serious' then counts.serious
            when 'item9_rise' then counts.item9_rise
            else counts.any_reason
        end,
        0
    ) as integer) as n_sessions

from months_with_sessions
cross join reasons
left join counts
    on months_with_sessions.month = counts.month
    and months_with_sessions.site_id = counts.site_id
order by months_with_sessions.month, months_with_sessions.site_id, reasons.reason_order
