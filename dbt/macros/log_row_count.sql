{#
    A post-hook of every table, incremental model and seed (dbt_project.yml): logs the table's row count
    as the structured dbt event `JinjaLogInfo` with the message "outcomes_row_count <schema>.<table> <n>".
    The Dagster step (pipelines/transform/assets.py) reads it from dbt's event stream and hands each
    model's materialization to Dagster as soon as dbt finishes the model, with its row count:
    DuckDB allows one writer, so nothing else can count the rows while dbt still runs. The hook
    renders to no SQL, so dbt runs nothing for it.
#}
{% macro log_row_count() -%}
    {%- if execute and model.config.materialized in ('table', 'incremental', 'seed') -%}
        {%- set counted = run_query('select count(*) from ' ~ this) -%}
        {%- do log('outcomes_row_count ' ~ this.schema ~ '.' ~ this.identifier ~ ' ' ~ counted.columns[0].values()[0], info=True) -%}
    {%- endif -%}
{%- endmacro %}
