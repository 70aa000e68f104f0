{# A table `alias` of one integer column `column` holding first..last (both inclusive), for a FROM or JOIN. #}
{% macro integer_series(first, last, alias, column) -%}
    {{ return(adapter.dispatch('integer_series', 'outcomes')(first, last, alias, column)) }}
{%- endmacro %}

{% macro duckdb__integer_series(first, last, alias, column) -%}
    {{ duckdb_only("generate_series(" ~ first ~ ", " ~ last ~ ") as " ~ alias ~ " (" ~ column ~ ")") }}
{%- endmacro %}

{% macro spark__integer_series(first, last, alias, column) -%}
    (select explode(sequence({{ first }}, {{ last }})) as {{ column }}) as {{ alias }}
{%- endmacro %}
