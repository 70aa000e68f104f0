{#
    The months a build refreshes, and the incremental strategy that replaces exactly those.

    Incremental models (config `materialized='incremental'`, `incremental_strategy='replace_months'`,
    `unique_key=<their month column>`) hold rows that belong to one month each: the month of
    the session or of the export they came from. A build deletes the rows of the refresh
    months and inserts them again from the model's SQL, which reads only those months; other
    months' rows stay as they are.

    The refresh months come from the environment variable OUTCOMES_REFRESH_MONTHS, a
    comma-separated list of 'YYYY-MM' (the Dagster transform step sets it:
    pipelines/transform/refresh.py), and never from `--vars`: vars are parse inputs, and dbt
    re-parses the whole project when they change. The variable is read only while executing
    (`execute`), so it is no parse input either. Absent or empty: every month (a build by hand
    with `dbt build` is always complete); `none`: no month (nothing was staged since the last
    build). A full refresh (`--full-refresh`, or a table that does not exist yet) builds every
    month whatever the variable says.
#}

{% macro refresh_months() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = env_var('OUTCOMES_REFRESH_MONTHS', '') | trim -%}
    {%- if value == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if value == 'none' -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set months = [] -%}
    {%- for month in value.split(',') -%}
        {%- set month = month | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-(0[1-9]|1[0-2])$', month) -%}
            {{ exceptions.raise_compiler_error("OUTCOMES_REFRESH_MONTHS must list months as YYYY-MM, separated by commas") }}
        {%- endif -%}
        {%- do months.append(month) -%}
    {%- endfor -%}
    {{ return(months | unique | sort) }}
{%- endmacro %}


{# Every month when the model is built in full; otherwise the refresh months (none: every month). #}
{% macro months_to_build() -%}
    {%- set months = refresh_months() -%}  {#- checked even when the model is built in full -#}
    {{ return(months if is_incremental() else none) }}
{%- endmacro %}


{# A condition on a 'YYYY-MM' text column: true for the months this build writes. #}
{% macro refresh_month_filter(month_column, months='build') -%}
    {%- set months = months_to_build() if months == 'build' else months -%}
    {%- if months is none -%}
        true
    {%- elif months | length == 0 -%}
        false
    {%- else -%}
        {{ month_column }} in ({% for month in months %}'{{ month }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}


{#
    A condition on a timestamp column: true from `margin_days` before the first day of each
    month this build writes to `margin_days` after its last day (one range per run of
    consecutive months). Reads only the vitals that can belong to sessions of those months: a
    reading can fall just outside its session's month.
#}
{% macro refresh_time_filter(timestamp_column, margin_days=1) -%}
    {%- set months = months_to_build() -%}
    {%- if months is none -%}
        true
    {%- elif months | length == 0 -%}
        false
    {%- else -%}
        {%- set firsts = [] -%}
        {%- set lasts = [] -%}
        {%- for month in months -%}
            {%- set previous = (modules.datetime.date(month[:4] | int, month[5:] | int, 1) - modules.datetime.timedelta(days=1)).strftime('%Y-%m') -%}
            {%- if lasts and lasts[-1] == previous -%}
                {%- do lasts.pop() -%}
            {%- else -%}
                {%- do firsts.append(month) -%}
            {%- endif -%}
            {%- do lasts.append(month) -%}
        {%- endfor -%}
        ({% for first in firsts %}({{ timestamp_column }} >= timestamp '{{ first }}-01' - interval {{ margin_days }} day and {{ timestamp_column }} < timestamp '{{ lasts[loop.index0] }}-01' + interval 1 month + interval {{ margin_days }} day){{ " or " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}


{#
    The incremental strategy `replace_months` (DuckDB; Spark uses insert_overwrite by month
    partition, macros/incremental_by_month.sql): delete the target's rows of the refresh months
    (by its unique_key, the month column), then insert the model's new rows. Unlike dbt's
    delete+insert, a month that has no rows any more (a retracted export) is emptied too, not
    left as it was.
#}
{% macro get_incremental_replace_months_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} where {{ refresh_month_filter(arg_dict['unique_key']) }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
