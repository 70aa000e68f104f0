{#
    Text. A backslash means different things in the two engines' string literals (a plain
    character in DuckDB, an escape in Spark SQL: '\s' is 's' there), so regular expressions
    that need one are written per engine.
#}

{# `text` with every run of white space (spaces, tabs, line breaks) made one space. #}
{% macro collapse_whitespace(text) -%}
    {{ return(adapter.dispatch('collapse_whitespace', 'outcomes')(text)) }}
{%- endmacro %}

{% macro duckdb__collapse_whitespace(text) -%}
    {{ duckdb_only("regexp_replace(" ~ text ~ ", '\\s+', ' ', 'g')") }}
{%- endmacro %}

{% macro spark__collapse_whitespace(text) -%}
    {#- Spark replaces every match; the doubled backslash is one in the Java pattern. -#}
    regexp_replace({{ text }}, '\\s+', ' ')
{%- endmacro %}
