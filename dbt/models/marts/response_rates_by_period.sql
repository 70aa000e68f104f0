-- Completer rates pooled over calendar quarters and calendar years, per site (plus ALL),
-- instrument and measure: the sums of response_rates' cohort months in the period (a course
-- belongs to one cohort month, so the sums count each course once). Calendar periods, never
-- rolling windows: two overlapping windows differ by a month or two, and their difference would
-- give a small month back. The period's endpoint windows close when its last cohort month's do
-- (that month's last day + endpoint_last_day); until then the period is provisional and is never
-- a headline. Used for the site comparison (funnel plots) and by quality teams.

with monthly as (select * from {{ ref('response_rates') }}),
coverage as (select * from {{ ref('int_export_coverage__summarized') }}),
windows as (select * from {{ ref('assessment_windows') }}),

in_periods as (

    {{ in_calendar_periods('monthly', 'cohort_month') }}

),

pooled as (

    select
        period_type,
        period_start,
        site_id,
        instrument,
        measure,
        cast(count(*) as integer) as n_cohort_months,
        cast(sum(n_eligible) as integer) as n_eligible,
        cast(sum(n_met) as integer) as n_met,
        cast(sum(n_missing_endpoint) as integer) as n_missing_endpoint

    from in_periods
    group by period_type, period_start, site_id, instrument, measure

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
    ended.instrument,
    ended.measure,
    ended.n_cohort_months,
    ended.n_eligible,
    ended.n_met,
    ended.n_missing_endpoint,
    {{ rate_with_wilson_interval('ended.n_met', 'ended.n_eligible') }},
    {{ add_days('ended.period_end', 'windows.endpoint_last_day') }} as window_closes_on,
    {{ add_days('ended.period_end', 'windows.endpoint_last_day') }} > coverage.last_covered_day as is_provisional

from ended
cross join windows
cross join coverage
