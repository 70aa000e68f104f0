{#
    Use a model's custom schema name as written (`marts`, not `main_marts`), so the
    warehouse has one plain schema per layer: reference, stg, intermediate, marts.
    Models without a custom schema go to the target's schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
