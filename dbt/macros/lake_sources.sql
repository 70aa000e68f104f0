{#
    The `staging` source over the staging lake (pipelines/validate/lake.py), per engine; run at
    the start of every dbt call (on-run-start in dbt_project.yml).

    DuckDB reads the lake through the source's external_location (models/sources.yml): nothing
    to create. Spark gets one view per export over the export's folder: Spark discovers the
    `month=YYYY-MM` partitions itself and lists the files at every query, so a view made once
    per call sees what validate wrote last.
#}
{% macro lake_sources() -%}
    {{ return(adapter.dispatch('lake_sources', 'outcomes')()) }}
{%- endmacro %}

{% macro default__lake_sources() -%}
{%- endmacro %}

{% macro spark__lake_sources() -%}
    {%- if execute -%}
        {%- set lake = env_var('OUTCOMES_WAREHOUSE', '../warehouse') ~ '/lake/staging' -%}
        {%- do run_query("create database if not exists staging") -%}
        {%- for export in ['sessions', 'vitals', 'questionnaires'] -%}
            {%- do run_query("create or replace view staging." ~ export ~ " as select * from parquet.`"
                             ~ lake ~ "/" ~ export ~ "`") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
