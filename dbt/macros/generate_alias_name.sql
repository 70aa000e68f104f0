{#
    A model's table is its name without its layer's prefix (dbt_project.yml): model names
    must be unique across the project, table names only within their schema, so the layer is
    said once, by the schema. int_courses__summarized is intermediate.courses__summarized,
    reporting_response_rates is reporting.response_rates, reference_rules is reference.rules;
    marts and seeds carry no prefix.
    An explicit alias still wins.
#}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- set layer_prefixes = {
        'stg': 'stg_', 'intermediate': 'int_', 'reporting': 'reporting_', 'data_quality': 'data_quality_',
        'reference': 'reference_'
    } -%}
    {%- set prefix = layer_prefixes.get(node.config.schema) if node.resource_type == 'model' else none -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- elif prefix and node.name.startswith(prefix) -%}
        {{ node.name[prefix | length:] }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}
