-- p-chart of sessions with any adverse event, per month and site (plus ALL), from the `any`
-- rows of the adverse_events mart (Benneyan 2001 on healthcare control charts):
--   p     = sessions with any AE / sessions, this month
--   p_bar = total sessions with any AE / total sessions over the 12 calendar months BEFORE this
--           month (var control_chart_baseline_months; this month is not included, so a spike
--           cannot widen its own limits)
--   ucl, lcl = p_bar +/- 3 sqrt(p_bar (1 - p_bar) / n), n = this month's sessions; lcl >= 0
--           (3: var control_chart_sigma)
--   signal = p > ucl, only when the limits rest on a baseline: with fewer than 6 months with
--           sessions in the pool (var control_chart_min_baseline_months) the limits are
--           provisional and raise no signal (signal empty); Benneyan 2001 asks for 20-25
--           subgroups before limits are trusted, 6 is this project's floor for a young site.
-- Without any session in those months p_bar, limits and signal are empty.

with monthly as (

    select
        month,
        site_id,
        n_sessions,
        n_sessions_with_event as n_sessions_with_any_ae

    from {{ ref('adverse_events') }}
    where ae_term = 'any'

),

trailing_year as (

    select
        this_month.month,
        this_month.site_id,
        sum(history.n_sessions_with_any_ae) / sum(history.n_sessions) as p_bar,
        cast(count(distinct history.month) as integer) as n_baseline_months

    from monthly as this_month
    inner join monthly as history
        on {{ control_chart_pool('this_month', 'history') }}
    group by this_month.month, this_month.site_id

),

limits as (

    select
        monthly.month,
        monthly.site_id,
        monthly.n_sessions,
        monthly.n_sessions_with_any_ae,
        monthly.n_sessions_with_any_ae / cast(monthly.n_sessions as double) as p,
        trailing_year.p_bar,
        cast(coalesce(trailing_year.n_baseline_months, 0) as integer) as n_baseline_months,
        {{ var('control_chart_sigma') }} * sqrt(trailing_year.p_bar * (1 - trailing_year.p_bar) / monthly.n_sessions)
            as limit_distance

    from monthly
    left join trailing_year
        on monthly.month = trailing_year.month
        and monthly.site_id = trailing_year.site_id

)

select
    month,
    site_id,
    n_sessions,
    n_sessions_with_any_ae,
    p,
    p_bar,
    p_bar + limit_distance as ucl,
    -- greatest() skips NULLs, so the floor applies only when there is a p_bar
    case when p_bar is not null then greatest(p_bar - limit_distance, 0) end as lcl,
    n_baseline_months,
    n_baseline_months < {{ var('control_chart_min_baseline_months') }} as limits_provisional,
    case
        when n_baseline_months >= {{ var('control_chart_min_baseline_months') }}
            then p > p_bar + limit_distance
    end as signal

from limits
