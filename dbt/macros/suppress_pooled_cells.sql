{#
    A pooled table (calendar quarters and years of a monthly mart) as it may leave the team.

    A pooled count is the sum of monthly counts that the reporting schema publishes, shown or
    hidden, for the same site and keys. An outsider subtracts the shown months from the pool and
    learns the sum of the hidden ones, so a quarter's pooled count is shown only when
      - every month it adds is shown (the pool adds nothing new), or
      - at least two of its months are hidden and what they sum to (the pool minus the shown
        months) is above small_cell_max: no single month comes back, and the remainder is not
        itself a small count.
    A year is the sum of its quarters: its count is shown only when every quarter pool of the
    year shows it (a year over a hidden quarter would give that quarter back). No monthly row in
    reporting at all: hidden (fail closed). For response tables the non-responders are protected
    the same way (also_primary). Across sites: where the ALL pool hides a count, no site pool
    shows it over a hidden month (the sites would add up to ALL); where the ALL pool shows it and
    exactly one site pool hides it, or the hidden ones sum to 1..small_cell_max, the smallest
    pool released over hidden months is hidden too (a pool whose months are all shown adds
    nothing, so hiding it would protect nothing). Derived columns (rates, intervals) are hidden
    with any count they are built from.

    Across months, sites and tables the hidden remainders still combine; that is what the publish
    step's disclosure audit solves for (pipelines/publish/disclosure/gate.py): where the solver
    pins a cell, it takes the pools concerned back to sums of shown months, or stops the publish.

    Arguments:
      pooled        the pooled mart (period_type, period_start, the keys, the counts, ...)
      monthly       the monthly reporting table the pools are sums of
      month_column  its month column (cohort_month, month)
      keys          the columns besides the period that identify a pool (site_id first)
      counts        the pooled counts, named as in the monthly table
      derived       {column: [counts it is built from]}
      columns       every output column, in order (suppressed_cells is added last)
      also_primary  {count: expression of the pooled row's columns}: another count the release
                    must protect the same way, as suppress_small_cells' argument (response
                    tables: the non-responders n_eligible - n_met, summed over the months that
                    show both)
#}
{% macro suppress_pooled_cells(pooled, monthly, month_column, keys, counts, derived, columns, also_primary={}) -%}

with pooled as (select * from {{ pooled }}),

monthly_shown as (

    select
        period_type,
        period_start,
        {{ keys | join(', ') }},
        count(*) as n_monthly_rows,
        {%- for count in counts %}
        count(*) filter (where {{ count }} is null) as {{ count }}_months_hidden,
        {%- if count in also_primary %}
        coalesce(sum({{ also_primary[count] }}), 0) as {{ count }}_also_shown_sum,
        {%- endif %}
        coalesce(sum({{ count }}), 0) as {{ count }}_shown_sum{{ ',' if not loop.last }}
        {%- endfor %}
    from ({{ in_calendar_periods(monthly, month_column) }}) as in_periods
    group by period_type, period_start, {{ keys | join(', ') }}

),

quarters_released as (

    select
        pooled.*,
        {%- for count in counts %}
        not coalesce(
            monthly_shown.{{ count }}_months_hidden = 0
            or (monthly_shown.{{ count }}_months_hidden >= 2
                and pooled.{{ count }} - monthly_shown.{{ count }}_shown_sum > {{ var('small_cell_max') }}
                {%- if count in also_primary %}
                and ({{ also_primary[count] }}) - monthly_shown.{{ count }}_also_shown_sum > {{ var('small_cell_max') }}
                {%- endif %}),
            false
        ) as {{ count }}_hidden,
        coalesce(monthly_shown.{{ count }}_months_hidden > 0, true) as {{ count }}_released{{ ',' if not loop.last }}
        {%- endfor %}

    from pooled
    left join monthly_shown
        on pooled.period_type = monthly_shown.period_type
        and pooled.period_start = monthly_shown.period_start
        {%- for key in keys %}
        and pooled.{{ key }} = monthly_shown.{{ key }}
        {%- endfor %}
    where pooled.period_type = 'quarter'

),

quarters as (

    {{ _pooled_site_complement('quarters_released', columns, keys, counts) }}

),

year_quarters as (

    select
        pooled.period_start,
        {%- for key in keys %}
        pooled.{{ key }},
        {%- endfor %}
        {%- for count in counts %}
        coalesce(bool_or(quarters.{{ count }}_hidden), true) as {{ count }}_hidden{{ ',' if not loop.last }}
        {%- endfor %}

    from pooled
    left join quarters
        on cast(date_trunc('year', quarters.period_start) as date) = pooled.period_start
        {%- for key in keys %}
        and quarters.{{ key }} = pooled.{{ key }}
        {%- endfor %}
    where pooled.period_type = 'year'
    group by pooled.period_start, {% for key in keys %}pooled.{{ key }}{{ ', ' if not loop.last }}{% endfor %}

),

years as (

    -- no site complement of its own: the quarters have one, so a year hiding a count at one
    -- site hides it at another (whose quarter hides it); hiding a year whose quarters are all
    -- shown would protect nothing
    select
        {%- for column in columns %}
        pooled.{{ column }},
        {%- endfor %}
        {%- for count in counts %}
        year_quarters.{{ count }}_hidden{{ ',' if not loop.last }}
        {%- endfor %}

    from pooled
    inner join year_quarters
        on pooled.period_start = year_quarters.period_start
        {%- for key in keys %}
        and pooled.{{ key }} = year_quarters.{{ key }}
        {%- endfor %}
    where pooled.period_type = 'year'

),

decided as (

    select * from quarters
    union all
    select * from years

)

{%- set hidden_when = {} %}
{%- for count in counts %}{% do hidden_when.update({count: count ~ '_hidden'}) %}{% endfor %}
{%- for column, inputs in derived.items() %}
    {%- set flags = [] %}
    {%- for input in inputs %}{% do flags.append(input ~ '_hidden') %}{% endfor %}
    {%- do hidden_when.update({column: '(' ~ (flags | join(' or ')) ~ ')'}) %}
{%- endfor %}
{%- set names = [] %}
{%- for column in columns if column in hidden_when %}
    {%- do names.append("case when " ~ hidden_when[column] ~ " then '" ~ column ~ "' end") %}
{%- endfor %}

select
    {%- for column in columns %}
    {%- if column in hidden_when %}
    case when {{ hidden_when[column] }} then null else {{ column }} end as {{ column }},
    {%- else %}
    {{ column }},
    {%- endif %}
    {%- endfor %}
    {{ list_of_present(names) }} as suppressed_cells

from decided

{%- endmacro %}



{#
    The site complement of suppress_pooled_cells: `relation` has every output column, and for each
    count <count>_hidden and <count>_released (shown over at least one hidden month). Where the
    ALL pool hides a count, no site releases it (the sites would add up to ALL). Where the
    ALL pool shows a count and exactly one site pool hides it, or the hidden ones sum to
    1..small_cell_max (the test small_cells_protected's rule), the released site pool with the
    smallest count (then the first site_id) is hidden too: released means above small_cell_max.
#}
{% macro _pooled_site_complement(relation, columns, keys, counts) -%}
    {%- set group = ['period_type', 'period_start'] + keys[1:] %}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        {%- for count in counts %}
        {{ count }}_hidden or coalesce(
            site_id <> 'ALL' and {{ count }}_released
            and bool_or(site_id = 'ALL' and {{ count }}_hidden) over (partition by {{ group | join(', ') }}),
            false
        ) or coalesce(
            site_id <> 'ALL' and {{ count }}_released
            and (
                sum(case when site_id <> 'ALL' and {{ count }}_hidden then 1 else 0 end)
                    over (partition by {{ group | join(', ') }}) = 1
                or sum(case when site_id <> 'ALL' and {{ count }}_hidden then {{ count }} else 0 end)
                    over (partition by {{ group | join(', ') }}) between 1 and {{ var('small_cell_max') }}
            )
            and bool_or(site_id = 'ALL' and not {{ count }}_hidden) over (partition by {{ group | join(', ') }})
            and row_number() over (
                partition by {{ group | join(', ') }}, site_id <> 'ALL' and {{ count }}_released and not {{ count }}_hidden
                order by {{ count }}, site_id
            ) = 1,
            false
        ) as {{ count }}_hidden{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ relation }}
{%- endmacro %}
