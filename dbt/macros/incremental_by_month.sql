{#
    The configuration of an incremental model whose rows belong to one month each (its month
    column: the session's month or the export's), per engine. One place for the six models:
    `{{ config(incremental_by_month('session_month')) }}`.

    DuckDB: the strategy `replace_months` (macros/refresh_months.sql) deletes the refresh months
    and inserts them again. Spark: dbt-spark accepts only its own strategies, so the table is
    partitioned by the month column and rebuilt with `insert_overwrite` (dynamic partition
    overwrite: the partitions the new rows fall in are replaced). A refresh month left without
    rows would keep its old partition: a pre-hook drops the refresh months' partitions first.
#}
{% macro incremental_by_month(month_column) -%}
    {{ return(adapter.dispatch('incremental_by_month', 'outcomes')(month_column)) }}
{%- endmacro %}

{% macro default__incremental_by_month(month_column) -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'replace_months',
               'unique_key': month_column, 'on_schema_change': 'fail'}) }}
{%- endmacro %}

{% macro spark__incremental_by_month(month_column) -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite',
               'unique_key': month_column, 'partition_by': [month_column], 'file_format': 'parquet',
               'on_schema_change': 'fail',
               'pre_hook': ["{{ drop_refresh_partitions('" ~ month_column ~ "') }}"]}) }}
{%- endmacro %}


{#
    Spark's pre-hook: drop the refresh months' partitions of an existing table before
    insert_overwrite writes the months that have rows; with every month to build (no
    OUTCOMES_REFRESH_MONTHS: a build by hand), empty the table, so that a month without rows does
    not keep its old ones. Runs each statement itself (Spark takes one statement per call) and
    leaves the hook empty; nothing to do on a first or full build.
#}
{% macro drop_refresh_partitions(month_column) -%}
    {%- if execute and is_incremental() -%}
        {%- set months = refresh_months() -%}
        {%- if months is none -%}
            {%- do run_query("truncate table " ~ this) -%}
        {%- endif -%}
        {%- for month in months or [] -%}
            {%- do run_query("alter table " ~ this ~ " drop if exists partition (" ~ month_column
                             ~ " = '" ~ month ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
