{#
    Small-cell suppression for tables that leave the quality team (the `reporting` schema and
    the monthly report). Rule (CMS cell size suppression policy, clinical-definitions.md): no
    count of 1 to var('small_cell_max') = 10 may be shown, and no suppressed cell may be
    derivable from other cells or totals. Zero may be shown.

    The tables have one additive dimension, `part` (site_id), whose total row is `total`
    ('ALL'): per group of `keys`, the ALL cell is the sum of the site cells. Per count column:

    1. primary: the count is 1-10, or an `also_primary` expression of the row is (for example
       the non-responders n_eligible - n_met, which the reader could otherwise subtract);
    2. complementary: while the group's total is shown, hidden site cells could be recovered
       as total minus the shown sites. So when a group has exactly one primary site cell, or
       several whose sum is still 1-10 (their sum would itself be a small cell), the smallest
       site cell above the threshold is hidden too (ties by site id). One such cell is always
       enough: it adds more than 10 to the unknown sum. Should no site cell qualify, the total
       is hidden instead (cannot happen when totals are sums, kept as a guard);
    3. derived values (rates, intervals, means, control limits) are hidden when any count they
       are built from is hidden.

    Hidden cells are NULL, and their column names are listed in `suppressed_cells` (an empty
    list when nothing is hidden). The choice is deterministic in the values, so the same counts
    repeated in another table or measure (n_sessions for every AE term, n_eligible for
    response and remission) are hidden the same way.

    A count whose cells are related across rows beyond the site total (after-infusion counts:
    no course is scored after infusion k without its baseline, so n(k) <= n(0) for one site)
    is hidden by whole site blocks instead (`hidden_by`, with macros/units_hidden_together.sql).

    Arguments:
      relation      the unsuppressed table (a ref, or a parenthesised query)
      keys          columns that, with `part`, identify a cell row; totals add up within them
      counts        count columns to protect
      derived       {column: [counts it is built from]}
      also_primary  {count column: expression that must not be 1-10 either}
      columns       every output column in order (keys, part, counts, derived, others as-is)
      hidden_by     {count column: boolean SQL expression over the relation's row}: the count is
                    hidden exactly where the expression is true (decided elsewhere, for example by
                    units_hidden_together); rules 1 and 2 do not apply to it
#}

{% macro suppress_small_cells(relation, keys, counts, columns, derived={}, also_primary={}, hidden_by={}, part='site_id', total='ALL') -%}
    {%- set max_shown_small = var('small_cell_max') -%}
    {%- set own_counts = counts | reject('in', hidden_by) | list -%}
    {%- set group_by = keys | join(', ') -%}

with cells as (

    select * from {{ relation }}

),

primary_cells as (

    select
        *,
        {%- for count in own_counts %}
        coalesce(
            {{ count }} between 1 and {{ max_shown_small }}
            {%- if count in also_primary %}
            or ({{ also_primary[count] }}) between 1 and {{ max_shown_small }}
            {%- endif %},
            false
        ) as primary__{{ count }},
        {%- endfor %}
        {{ part }} = '{{ total }}' as is_total__

    from cells

),

group_totals as (

    select
        *{{ ',' if own_counts }}
        {%- for count in own_counts %}
        count(*) filter (where primary__{{ count }} and not is_total__) over cell_group as n_primary__{{ count }},
        coalesce(sum({{ count }}) filter (where primary__{{ count }} and not is_total__) over cell_group, 0)
            as sum_primary__{{ count }},
        coalesce(bool_or(primary__{{ count }} and is_total__) over cell_group, false) as total_primary__{{ count }},
        count(*) filter (
            where not primary__{{ count }} and not is_total__ and {{ count }} > {{ max_shown_small }}
        ) over cell_group as n_candidates__{{ count }},
        row_number() over (
            partition by {{ group_by }},
                (not primary__{{ count }} and not is_total__ and {{ count }} > {{ max_shown_small }})
            order by {{ count }}, {{ part }}
        ) as candidate_rank__{{ count }}{{ ',' if not loop.last }}
        {%- endfor %}

    from primary_cells
    window cell_group as (partition by {{ group_by }})

),

hidden_cells as (

    select
        *{{ ',' if hidden_by or own_counts }}
        {%- for count in hidden_by %}
        coalesce({{ hidden_by[count] }}, false) as hidden__{{ count }}{{ ',' if not loop.last or own_counts }}
        {%- endfor %}
        {%- for count in own_counts %}
        primary__{{ count }} or (
            -- the total is shown and the hidden site cells could be recovered from it
            not total_primary__{{ count }}
            and n_primary__{{ count }} >= 1
            and (n_primary__{{ count }} = 1 or sum_primary__{{ count }} <= {{ max_shown_small }})
            and (
                (not primary__{{ count }} and not is_total__ and {{ count }} > {{ max_shown_small }}
                    and candidate_rank__{{ count }} = 1)
                or (is_total__ and n_candidates__{{ count }} = 0)
            )
        ) as hidden__{{ count }}{{ ',' if not loop.last }}
        {%- endfor %}

    from group_totals

)

select
    {%- for column in columns %}
    {%- if column in counts %}
    case when hidden__{{ column }} then null else {{ column }} end as {{ column }},
    {%- elif column in derived %}
    case when {% for source in derived[column] %}hidden__{{ source }}{{ ' or ' if not loop.last }}{% endfor %}
        then null else {{ column }} end as {{ column }},
    {%- else %}
    {{ column }},
    {%- endif %}
    {%- endfor %}
    {%- set flags = [] %}
    {%- for column in columns if column in counts or column in derived %}
    {%- set sources = [column] if column in counts else derived[column] %}
    {%- set hidden = [] %}
    {%- for source in sources %}{% do hidden.append('hidden__' ~ source) %}{% endfor %}
    {%- do flags.append("case when " ~ hidden | join(' or ') ~ " then '" ~ column ~ "' end") %}
    {%- endfor %}
    {{ list_of_present(flags) }} as suppressed_cells

from hidden_cells

{%- endmacro %}
