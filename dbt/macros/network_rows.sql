{#
    The rows of `relation` twice: as they are, and with the site replaced by the network total
    'ALL', so that grouping by site counts every row for its own site and once for the whole
    network. Every breakdown by site in the marts has its ALL row made this way (from the
    courses or sessions themselves, never by adding up site rates), and the reporting schema's
    complementary suppression relies on ALL being exactly the sum of its sites
    (macros/suppress_small_cells.sql, `part` and `total`): one definition, so no mart can make
    its network row another way.
#}

{% macro network_rows(relation, part='site_id', total='ALL') -%}
    select * from {{ relation }}
    union all
    select * replace ('{{ total }}' as {{ part }}) from {{ relation }}
{%- endmacro %}
