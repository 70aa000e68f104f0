-- Adverse events pooled over calendar quarters and calendar years, per site (plus ALL) and term:
-- the sums of the adverse_events months in the period (a session belongs to one month). Calendar
-- periods, never rolling windows (overlapping windows differ by a month, which they would give
-- back). A period reaching past the last day both exports have reached is provisional: its
-- latest month may still grow. Used for the site comparison (funnel plots) and by quality teams.

with monthly as (select * from {{ ref('adverse_events') }}),
coverage as (select * from {{ ref('int_export_coverage__summarized') }}),

in_periods as (

    {{ in_calendar_periods('monthly', 'month') }}

),

pooled as (

    select
        period_type,
        period_start,
        site_id,
        ae_term,
        cast(count(*) as integer) as n_months,
        cast(sum(n_sessions) as integer) as n_sessions,
        cast(sum(n_sessions_with_event) as integer) as n_sessions_with_event,
        cast(sum(n_grade_3_plus) as integer) as n_grade_3_plus,
        cast(sum(n_serious) as integer) as n_serious

    from in_periods
    group by period_type, period_start, site_id, ae_term

),

ended as (

    select
        pooled.*,
        {{ calendar_period_end('pooled.period_type', 'pooled.period_start') }} as period_end

    from pooled

)

select
    ended.period_type,
    ended.period_start,
    ended.period_end,
    ended.site_id,
    ended.ae_term,
    ended.n_months,
    ended.n_sessions,
    ended.n_sessions_with_event,
    {{ rate_with_wilson_interval('ended.n_sessions_with_event', 'ended.n_sessions', rate='rate_per_100_sessions', per=100) }},
    ended.n_grade_3_plus,
    ended.n_serious,
    ended.period_end > coverage.last_covered_day as is_provisional

from ended
cross join coverage
