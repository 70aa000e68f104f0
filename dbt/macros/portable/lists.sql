{#
    Lists and text lists: aggregation into ordered text, rows from a list, and the list of
    suppressed cells the reporting schema keeps per row (macros/suppress_small_cells.sql).
#}

{#
    An aggregate: the values of `measure` in a group as one text, ordered by `order_by`,
    separated by `delimiter` (a SQL literal); `where`: only the rows meeting this condition.
#}
{% macro ordered_text_list(measure, delimiter, order_by, where=none) -%}
    {{ return(adapter.dispatch('ordered_text_list', 'outcomes')(measure, delimiter, order_by, where)) }}
{%- endmacro %}

{% macro duckdb__ordered_text_list(measure, delimiter, order_by, where=none) -%}
    {{ duckdb_only("string_agg(" ~ measure ~ ", " ~ delimiter ~ " order by " ~ order_by ~ ")"
                   ~ (" filter (where " ~ where ~ ")" if where else "")) }}
{%- endmacro %}

{% macro spark__ordered_text_list(measure, delimiter, order_by, where=none) -%}
    {#- collect_list keeps no order: collect (key, value) pairs, sort them (structs sort field by
        field), keep the values. array_join skips nulls as string_agg does; an empty group gives
        '' where string_agg gives null, hence the nullif. -#}
    nullif(array_join(transform(array_sort(
        collect_list(struct({{ order_by }} as k, {{ measure }} as v)){{ " filter (where " ~ where ~ ")" if where }}
    ), x -> x.v), {{ delimiter }}), '')
{%- endmacro %}


{# One row per part of `text` split at `delimiter` (a SQL literal of plain characters), in a select list. #}
{% macro split_into_rows(text, delimiter) -%}
    {{ return(adapter.dispatch('split_into_rows', 'outcomes')(text, delimiter)) }}
{%- endmacro %}

{% macro duckdb__split_into_rows(text, delimiter) -%}
    {{ duckdb_only("unnest(string_split(" ~ text ~ ", " ~ delimiter ~ "))") }}
{%- endmacro %}

{% macro spark__split_into_rows(text, delimiter) -%}
    {#- Spark's split takes a regular expression: the project's delimiters (';') have no
        metacharacters. -#}
    explode(split({{ text }}, {{ delimiter }}))
{%- endmacro %}


{# One row per element of the list column `list`, in a select list. #}
{% macro list_into_rows(list) -%}
    {{ return(adapter.dispatch('list_into_rows', 'outcomes')(list)) }}
{%- endmacro %}

{% macro duckdb__list_into_rows(list) -%}
    {{ duckdb_only("unnest(" ~ list ~ ")") }}
{%- endmacro %}

{% macro spark__list_into_rows(list) -%}
    explode({{ list }})
{%- endmacro %}


{# A list of the values of the SQL expressions `items` that are not null, in their order. #}
{% macro list_of_present(items) -%}
    {{ return(adapter.dispatch('list_of_present', 'outcomes')(items)) }}
{%- endmacro %}

{% macro duckdb__list_of_present(items) -%}
    {{ duckdb_only("list_filter([" ~ items | join(", ") ~ "], lambda item: item is not null)") }}
{%- endmacro %}

{% macro spark__list_of_present(items) -%}
    filter(array({{ items | join(", ") }}), item -> item is not null)
{%- endmacro %}


{# Whether the list `list` holds `value`. #}
{% macro list_has(list, value) -%}
    {{ return(adapter.dispatch('list_has', 'outcomes')(list, value)) }}
{%- endmacro %}

{% macro duckdb__list_has(list, value) -%}
    {{ duckdb_only("list_contains(" ~ list ~ ", " ~ value ~ ")") }}
{%- endmacro %}

{% macro spark__list_has(list, value) -%}
    array_contains({{ list }}, {{ value }})
{%- endmacro %}


{# The list `list` followed by those of the text `values` (Python strings) it does not hold yet, in order. #}
{% macro list_with(list, values) -%}
    {{ return(adapter.dispatch('list_with', 'outcomes')(list, values)) }}
{%- endmacro %}

{% macro duckdb__list_with(list, values) -%}
    {%- set quoted = [] -%}
    {%- for value in values %}{% do quoted.append("'" ~ value ~ "'") %}{% endfor -%}
    {{ duckdb_only("list_concat(" ~ list ~ ", list_filter([" ~ quoted | join(", ")
                   ~ "], lambda item: not list_contains(" ~ list ~ ", item)))") }}
{%- endmacro %}

{% macro spark__list_with(list, values) -%}
    {#- array_union keeps the first list's order and appends the new elements, without duplicates. -#}
    array_union({{ list }}, array({% for value in values %}'{{ value }}'{{ ", " if not loop.last }}{% endfor %}))
{%- endmacro %}
