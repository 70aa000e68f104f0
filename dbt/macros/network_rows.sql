{#
    The rows of `relation` twice, each with the column `as_column`: once holding the row's own
    site, once the network total 'ALL', so that grouping by `as_column` counts every row for its
    own site and once for the whole network. Every breakdown by site in the marts has its ALL row made this way (from the
    courses or sessions themselves, never by adding up site rates), and the reporting schema's
    complementary suppression relies on ALL being exactly the sum of its sites
    (macros/suppress_small_cells.sql, `part` and `total`): one definition, so no mart can make
    its network row another way.
#}

{% macro network_rows(relation, as_column, part='site_id', total='ALL') -%}
    {#- A new column rather than `part` replaced: `select * replace (...)` is DuckDB's own, and a
        CTE's columns cannot be listed from here. -#}
    select {{ relation }}.*, {{ relation }}.{{ part }} as {{ as_column }} from {{ relation }}
    union all
    select {{ relation }}.*, '{{ total }}' as {{ as_column }} from {{ relation }}
{%- endmacro %}
