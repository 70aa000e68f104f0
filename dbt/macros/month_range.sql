{#
    The partition range of an incremental run, from the vars `min_month` and `max_month`
    ('YYYY-MM', both inclusive). Dagster passes a monthly partition range with
    `dbt build --vars '{min_month: 2025-03, max_month: 2025-04}'`; when a var is absent the
    range is open on that side, and with neither every month is processed.
#}

{% macro month_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none or value | string | trim == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-(0[1-9]|1[0-2])$', value) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be 'YYYY-MM', got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}


{# A condition on a 'YYYY-MM' text column: true for the months in the range. #}
{% macro month_range_filter(month_column) -%}
    {%- set min_month = month_var('min_month') -%}
    {%- set max_month = month_var('max_month') -%}
    {%- if min_month is none and max_month is none -%}
        true
    {%- else -%}
        {{ month_column }} >= '{{ min_month or "0000-01" }}' and {{ month_column }} <= '{{ max_month or "9999-12" }}'
    {%- endif -%}
{%- endmacro %}


{#
    A condition on a timestamp column: true from `margin_days` before the first month of the
    range to `margin_days` after its last month. Used to read only the vitals that can belong
    to sessions of the range (a reading can fall just outside its session's month).
#}
{% macro month_range_time_filter(timestamp_column, margin_days=1) -%}
    {%- set min_month = month_var('min_month') -%}
    {%- set max_month = month_var('max_month') -%}
    {%- if min_month is none and max_month is none -%}
        true
    {%- else -%}
        {%- if min_month is not none -%}
            {{ timestamp_column }} >= timestamp '{{ min_month }}-01' - interval {{ margin_days }} day
        {%- else -%}
            true
        {%- endif %}
        and
        {%- if max_month is not none %}
            {{ timestamp_column }} < timestamp '{{ max_month }}-01' + interval 1 month + interval {{ margin_days }} day
        {%- else %}
            true
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
