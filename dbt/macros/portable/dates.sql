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
