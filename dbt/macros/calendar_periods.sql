{#
    The rows of a monthly relation, once in their calendar quarter and once in their calendar
    year: period_type ('quarter', 'year'), period_start (the period's first day), then every
    column of the relation. One definition for the pooled marts (response_rates_by_period,
    adverse_events_by_period) and for the reporting rule that checks which months a pool adds
    (macros/suppress_pooled_cells.sql): they must never disagree on which months a period holds.
    Calendar periods only: overlapping rolling windows would give back the months they differ by.
#}
{% macro in_calendar_periods(relation, month_column) -%}
    {%- for period in ['quarter', 'year'] %}
    select
        '{{ period }}' as period_type,
        cast(date_trunc('{{ period }}', {{ month_column }}) as date) as period_start,
        monthly_rows.*
    from {{ relation }} as monthly_rows
    {{ 'union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{# The last day of the calendar period that starts on `period_start`. #}
{% macro calendar_period_end(period_type, period_start) -%}
    last_day({{ add_months(period_start, "case " ~ period_type ~ " when 'quarter' then 2 else 11 end") }})
{%- endmacro %}
