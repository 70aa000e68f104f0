-- marts.ae_control_chart with small cells suppressed (macros/suppress_small_cells.sql). The
-- control limits give away n_sessions (ucl - p_bar = 3 sqrt(p_bar (1 - p_bar) / n)), so they
-- are hidden with it. p_bar pools the 12 months before: p_bar x the pooled sessions = the pooled
-- events, so a reader could solve for any hidden month in the pool (issue #10). p_bar is shown
-- only when every month it pools is shown at that site, and the limits and signal go with it.

with suppressed as (

    {{ suppress_small_cells(
        relation=ref('ae_control_chart'),
        keys=['month'],
        counts=['n_sessions', 'n_sessions_with_any_ae'],
        derived={'p': ['n_sessions_with_any_ae', 'n_sessions'], 'ucl': ['n_sessions'], 'lcl': ['n_sessions'],
                 'signal': ['n_sessions_with_any_ae', 'n_sessions']},
        columns=['month', 'site_id', 'n_sessions', 'n_sessions_with_any_ae', 'p', 'p_bar', 'ucl', 'lcl', 'signal',
                 'n_baseline_months', 'limits_provisional'],
    ) }}

),

-- the window marts/ae_control_chart.sql pools (macros/control_chart_pool.sql)
pools as (

    select
        this_month.month,
        this_month.site_id,
        coalesce(
            bool_or(pooled.month is not null and (pooled.n_sessions is null or pooled.n_sessions_with_any_ae is null)),
            false
        ) as pools_a_hidden_cell

    from suppressed as this_month
    left join suppressed as pooled
        on {{ control_chart_pool('this_month', 'pooled') }}
    group by this_month.month, this_month.site_id

)

select
    suppressed.month,
    suppressed.site_id,
    suppressed.n_sessions,
    suppressed.n_sessions_with_any_ae,
    suppressed.p,
    case when pools.pools_a_hidden_cell then null else suppressed.p_bar end as p_bar,
    case when pools.pools_a_hidden_cell then null else suppressed.ucl end as ucl,
    case when pools.pools_a_hidden_cell then null else suppressed.lcl end as lcl,
    case when pools.pools_a_hidden_cell then null else suppressed.signal end as signal,
    -- how many months with sessions the pool holds: the rows of the pool, shown or hidden, say it
    suppressed.n_baseline_months,
    suppressed.limits_provisional,
    case
        when pools.pools_a_hidden_cell and suppressed.p_bar is not null
            then {{ list_with('suppressed.suppressed_cells', ['p_bar', 'ucl', 'lcl', 'signal']) }}
        else suppressed.suppressed_cells
    end as suppressed_cells

from suppressed
inner join pools
    on suppressed.month = pools.month
    and suppressed.site_id = pools.site_id
