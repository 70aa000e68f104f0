{#
    Counts per site and for the whole network (ALL), zero-filled over a grid of cells: the
    shape of every count mart (response_rates, response_by_infusion, adverse_events,
    safety_signal_counts). One definition, because the reporting schema needs the same thing
    from all of them: an ALL row that is exactly the sum of its sites (macros/network_rows.sql),
    and a row, with zeros, for every cell of the grid, so that "none" is shown as 0 rather than
    as a missing row a reader cannot tell from a hidden one.

    Arguments:
      rows    the relation to count, one row per counted unit (course, session, ...), with
              `part` (site_id) and the `keys`
      keys    the columns counted by, besides `part`
      counts  {output column: aggregate over the rows}, in output order, e.g.
              {'n_met': 'count(*) filter (where is_met)'}; cast to integer
      cells   optional: a relation with `part` and the `keys`, one row per site cell that must
              have a row (its ALL cells are added here); each count is 0 where no row falls.
              Without it, only the cells with rows are returned.

    Output: the keys, `part`, then the counts.
#}

{% macro network_counts(rows, keys, counts, cells=none, part='site_id', total='ALL') -%}
    {%- set cell_columns = keys + [part] -%}
    {%- set network_part = 'network_' ~ part -%}  {#- the row's site, or ALL (network_rows) -#}

with rows_with_network as (

    {{ network_rows(rows, network_part, part, total) }}

),

row_counts as (

    select
        {%- for column in keys %}
        {{ column }},
        {%- endfor %}
        {{ network_part }} as {{ part }},
        {%- for name, aggregate in counts.items() %}
        {{ aggregate }} as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}

    from rows_with_network
    group by {{ (keys + [network_part]) | join(', ') }}

)

{%- if cells is none %}

select
    {%- for column in cell_columns %}
    {{ column }},
    {%- endfor %}
    {%- for name in counts %}
    cast({{ name }} as integer) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}

from row_counts

{%- else %},

cells_with_network as (

    select distinct {{ keys | join(', ') ~ ', ' if keys }}{{ network_part }} as {{ part }}
    from ({{ network_rows(cells, network_part, part, total) }}) as site_and_network_cells

)

select
    {%- for column in cell_columns %}
    cells_with_network.{{ column }},
    {%- endfor %}
    {%- for name in counts %}
    cast(coalesce(row_counts.{{ name }}, 0) as integer) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}

from cells_with_network
left join row_counts
    on {% for column in cell_columns -%}
    {{ ' and ' if not loop.first }}cells_with_network.{{ column }} = row_counts.{{ column }}
    {%- endfor %}

{%- endif %}

{%- endmacro %}
