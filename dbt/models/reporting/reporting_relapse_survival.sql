-- marts.relapse_survival for the network, on a fixed grid (every relapse_survival_step_days to
-- relapse_survival_max_days after the induction endpoint), what may leave the team. Each point:
-- the courses still at risk, the relapses and censorings up to it, the survival (still in
-- response) and its 95% interval at that day. Between two points the differences of these
-- counts are counts of courses too, so a point is shown only while every point up to it has
-- more than small_cell_max courses at risk and, since the point before, a fall in the courses at
-- risk, relapses and censorings each 0 or above small_cell_max; the curve stops (later points
-- empty) at the first that does not. Nothing is shown per site: sites are too small for a curve.

{%- set step = var('relapse_survival_step_days') %}
{%- set last = var('relapse_survival_max_days') %}
{%- set small = var('small_cell_max') %}

with times as (select * from {{ ref('relapse_times') }}),
curve as (select * from {{ ref('relapse_survival') }}),

grid as (

    select instruments.instrument, steps.step_number * {{ step }} as days
    from (select distinct instrument from times) as instruments
    cross join {{ integer_series(0, (last / step) | int, 'steps', 'step_number') }}

),

counted as (

    select
        grid.instrument,
        grid.days,
        count(*) filter (where times.days_to_event >= grid.days) as n_at_risk,
        count(*) filter (where times.has_relapsed and times.days_to_event <= grid.days) as n_relapsed,
        count(*) filter (where not times.has_relapsed and times.days_to_event <= grid.days) as n_censored

    from grid
    inner join times
        on grid.instrument = times.instrument
    group by grid.instrument, grid.days

),

-- the curve's value at each grid day: its last step on or before it (1 before the first relapse)
valued as (

    select
        counted.*,
        coalesce(steps.survival, 1.0) as survival,
        steps.ci_low,
        steps.ci_high

    from counted
    left join (
        select
            counted.instrument,
            counted.days,
            curve.survival,
            curve.ci_low,
            curve.ci_high,
            row_number() over (partition by counted.instrument, counted.days order by curve.days desc) as recency
        from counted
        inner join curve
            on counted.instrument = curve.instrument
            and curve.days <= counted.days
    ) as steps
        on counted.instrument = steps.instrument
        and counted.days = steps.days
        and steps.recency = 1

),

checked as (

    select
        *,
        n_at_risk > {{ small }}
            and (n_relapsed - coalesce(lag(n_relapsed) over instrument_days, 0) = 0
                 or n_relapsed - coalesce(lag(n_relapsed) over instrument_days, 0) > {{ small }})
            and (n_censored - coalesce(lag(n_censored) over instrument_days, 0) = 0
                 or n_censored - coalesce(lag(n_censored) over instrument_days, 0) > {{ small }})
            and (coalesce(lag(n_at_risk) over instrument_days, n_at_risk) - n_at_risk = 0
                 or coalesce(lag(n_at_risk) over instrument_days, n_at_risk) - n_at_risk > {{ small }})
            as is_point_safe

    from valued
    window instrument_days as (partition by instrument order by days)

),

shown as (

    select
        *,
        bool_and(is_point_safe) over (
            partition by instrument order by days rows between unbounded preceding and current row
        ) as is_shown

    from checked

)

select
    instrument,
    cast(days as integer) as days,
    cast(case when is_shown then n_at_risk end as integer) as n_at_risk,
    cast(case when is_shown then n_relapsed end as integer) as n_relapsed,
    cast(case when is_shown then n_censored end as integer) as n_censored,
    case when is_shown then survival end as survival,
    case when is_shown then ci_low end as ci_low,
    case when is_shown then ci_high end as ci_high,
    {{ list_of_present([
        "case when not is_shown then 'n_at_risk' end",
        "case when not is_shown then 'n_relapsed' end",
        "case when not is_shown then 'n_censored' end",
        "case when not is_shown then 'survival' end",
        "case when not is_shown then 'ci_low' end",
        "case when not is_shown then 'ci_high' end",
    ]) }} as suppressed_cells

from shown
