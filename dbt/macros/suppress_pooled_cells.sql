{#
    A pooled table (calendar quarters and years of a monthly mart) as it may leave the team.

    A pooled count is the sum of monthly counts the reporting schema already publishes for the
    same site and keys. It is shown only when every one of those monthly cells is shown: then it
    adds nothing an outsider could not add up, while a pool over a hidden month would give that
    month back (the pool minus the shown months), and with it, through the month's ALL row, the
    small cell the month was hidden for. Safe by construction, whatever the other tables show.
    Derived columns (rates, intervals) are hidden with any count they are built from.

    Arguments:
      pooled        the pooled mart (period_type, period_start, the keys, the counts, ...)
      monthly       the monthly reporting table the pools are sums of
      month_column  its month column (cohort_month, month)
      keys          the columns besides the period that identify a pool (site_id first)
      counts        the pooled counts, named as in the monthly table
      derived       {column: [counts it is built from]}
      columns       every output column, in order (suppressed_cells is added last)
#}
{% macro suppress_pooled_cells(pooled, monthly, month_column, keys, counts, derived, columns) -%}

with pooled as (select * from {{ pooled }}),

monthly_hidden as (

    select
        period_type,
        period_start,
        {{ keys | join(', ') }},
        {%- for count in counts %}
        coalesce(bool_or({{ count }} is null), false) as {{ count }}_hidden{{ ',' if not loop.last }}
        {%- endfor %}
    from ({{ in_calendar_periods(monthly, month_column) }}) as in_periods
    group by period_type, period_start, {{ keys | join(', ') }}

),

decided as (

    select
        pooled.*,
        {%- for count in counts %}
        coalesce(monthly_hidden.{{ count }}_hidden, true) as {{ count }}_hidden{{ ',' if not loop.last }}
        {%- endfor %}

    from pooled
    left join monthly_hidden
        on pooled.period_type = monthly_hidden.period_type
        and pooled.period_start = monthly_hidden.period_start
        {%- for key in keys %}
        and pooled.{{ key }} = monthly_hidden.{{ key }}
        {%- endfor %}

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
