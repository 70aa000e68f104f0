{#
    Dates and times. The clinical windows count calendar days by date (issue #4), so both ends
    are cast to dates before they are compared.
#}

{# Calendar days from `first` to `second` (both cast to dates): 0 on the same day, negative before. #}
{% macro days_between(first, second) -%}
    {{ return(adapter.dispatch('days_between', 'outcomes')(first, second)) }}
{%- endmacro %}

{% macro duckdb__days_between(first, second) -%}
    {{ duckdb_only("date_diff('day', cast(" ~ first ~ " as date), cast(" ~ second ~ " as date))") }}
{%- endmacro %}

{% macro spark__days_between(first, second) -%}
    {#- Spark's datediff(end, start) counts days from start to end. -#}
    datediff(cast({{ second }} as date), cast({{ first }} as date))
{%- endmacro %}


{# Seconds since 1970-01-01 of `timestamp`, as a number: for ordering readings in one aggregate. #}
{% macro epoch_seconds(timestamp) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'outcomes')(timestamp)) }}
{%- endmacro %}

{% macro duckdb__epoch_seconds(timestamp) -%}
    {{ duckdb_only("epoch(" ~ timestamp ~ ")") }}
{%- endmacro %}

{% macro spark__epoch_seconds(timestamp) -%}
    unix_timestamp({{ timestamp }})
{%- endmacro %}


{# `timestamp` plus `seconds` seconds (any numeric expression, fractions kept; negative goes back). #}
{% macro add_seconds(timestamp, seconds) -%}
    {{ return(adapter.dispatch('add_seconds', 'outcomes')(timestamp, seconds)) }}
{%- endmacro %}

{% macro duckdb__add_seconds(timestamp, seconds) -%}
    {{ duckdb_only("(" ~ timestamp ~ " + to_seconds(" ~ seconds ~ "))") }}
{%- endmacro %}

{% macro spark__add_seconds(timestamp, seconds) -%}
    {#- make_dt_interval(days, hours, mins, secs): a day-time interval (Spark 3.2+), which can be
        added to a timestamp; secs is DECIMAL(18,6), microsecond precision. (make_interval's
        calendar interval is deprecated for arithmetic.) -#}
    ({{ timestamp }} + make_dt_interval(0, 0, 0, cast({{ seconds }} as decimal(18, 6))))
{%- endmacro %}


{# The month of a date or timestamp as 'YYYY-MM' text. #}
{% macro month_text(timestamp) -%}
    {{ return(adapter.dispatch('month_text', 'outcomes')(timestamp)) }}
{%- endmacro %}

{% macro duckdb__month_text(timestamp) -%}
    {{ duckdb_only("strftime(" ~ timestamp ~ ", '%Y-%m')") }}
{%- endmacro %}

{% macro spark__month_text(timestamp) -%}
    date_format({{ timestamp }}, 'yyyy-MM')
{%- endmacro %}


{# `day` (a date) plus `months` calendar months, as a date; a day past the end of the target
   month becomes its last day on both engines (31 January + 1 month = 28 or 29 February). #}
{% macro add_months(day, months) -%}
    {{ return(adapter.dispatch('add_months', 'outcomes')(day, months)) }}
{%- endmacro %}

{% macro duckdb__add_months(day, months) -%}
    {{ duckdb_only("cast(cast(" ~ day ~ " as date) + to_months(cast(" ~ months ~ " as integer)) as date)") }}
{%- endmacro %}

{% macro spark__add_months(day, months) -%}
    add_months(cast({{ day }} as date), cast({{ months }} as integer))
{%- endmacro %}


{# `day` (a date) plus `days` calendar days (negative goes back), as a date. #}
{% macro add_days(day, days) -%}
    {{ return(adapter.dispatch('add_days', 'outcomes')(day, days)) }}
{%- endmacro %}

{% macro duckdb__add_days(day, days) -%}
    {{ duckdb_only("cast(cast(" ~ day ~ " as date) + cast(" ~ days ~ " as integer) as date)") }}
{%- endmacro %}

{% macro spark__add_days(day, days) -%}
    date_add(cast({{ day }} as date), cast({{ days }} as integer))
{%- endmacro %}
