{#
    Small-cell suppression by whole site blocks, for a count whose cells are related across the
    rows of a block, not only through the site total (issue #10). After-infusion counts are the
    case here: a course scored after infusion k has its baseline, so for one site and cohort
    month n(k) <= n(baseline), and a reader who combines the ALL rows of several infusions with
    those inequalities can narrow a site's hidden cell to a range inside 1-10, even when every
    infusion on its own has two hidden site cells.

    So the decision is made once per unit (block keys + site, e.g. cohort month x instrument x
    site) and applies to every row of the block (every infusion, and the baseline):
      1. primary: the unit has a count of 1 to var('small_cell_max') in any row;
      2. complementary: the block needs one more unit hidden when, in some row (step) whose
         ALL cell is shown (not itself 1-10), exactly one primary unit has a non-zero count (it
         would be the ALL row minus the shown sites; a zero is shown or absent elsewhere), or
         the primary units' counts add up to 1-10.
         The unit added is the non-primary one with the smallest total whose count is above
         the threshold at every step where the primary units' counts are not all zero (so each
         such step's hidden sum exceeds it; where they are all zero there is nothing to
         protect, and a zero may be shown), ties by site id; when no unit qualifies, the
         block's ALL rows are hidden instead.
    Output: one row per unit (is_hidden) and one per block for the total (`part` = total:
    is_hidden when the ALL rows must go), for suppress_small_cells(hidden_by=...).

    Arguments:
      relation    the unsuppressed table with one row per block x step x site (zero-filled)
      block_keys  columns of a block (the site excluded)
      step        the column that tells the rows of a block's unit apart (infusion_number)
      count       the count column
#}

{% macro units_hidden_together(relation, block_keys, step, count, part='site_id', total='ALL') -%}
    {%- set max_shown_small = var('small_cell_max') -%}
    {%- set blocks = block_keys | join(', ') -%}

with site_cells as (

    select {{ blocks }}, {{ step }} as step, {{ part }}, {{ count }} as n
    from {{ relation }}
    where {{ part }} <> '{{ total }}'

),

units as (

    select
        {{ blocks }},
        {{ part }},
        coalesce(bool_or(n between 1 and {{ max_shown_small }}), false) as is_primary,
        sum(n) as size

    from site_cells
    group by {{ blocks }}, {{ part }}

),

steps as (

    select
        {{ blocks }},
        step,
        coalesce(sum(n) filter (where units.is_primary), 0) as primary_sum,
        count(*) filter (where units.is_primary and n > 0) as primary_non_zero,
        coalesce(sum(n), 0) as step_total

    from site_cells
    inner join units using ({{ blocks }}, {{ part }})
    group by {{ blocks }}, step

),

blocks_to_complete as (

    select {{ blocks }}
    from steps
    group by {{ blocks }}
    -- a step whose ALL cell is itself 1-10 is hidden by its own count and needs no complement
    having bool_or(
        step_total not between 1 and {{ max_shown_small }}
        and (primary_non_zero = 1 or primary_sum between 1 and {{ max_shown_small }})
    )

),

-- units above the threshold at every step where the primary units' counts are not all zero
covering_units as (

    select site_cells.{{ block_keys | join(', site_cells.') }}, site_cells.{{ part }}
    from site_cells
    inner join steps
        on {% for key in block_keys %}site_cells.{{ key }} = steps.{{ key }} and {% endfor %}site_cells.step = steps.step
    group by site_cells.{{ block_keys | join(', site_cells.') }}, site_cells.{{ part }}
    having bool_and(steps.primary_sum = 0 or site_cells.n > {{ max_shown_small }})

),

candidate_complements as (

    select
        units.{{ block_keys | join(', units.') }},
        units.{{ part }},
        row_number() over (
            partition by {% for key in block_keys %}units.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
            order by units.size, units.{{ part }}
        ) as preference
    from units
    inner join blocks_to_complete using ({{ blocks }})
    inner join covering_units using ({{ blocks }}, {{ part }})
    where not units.is_primary

),

complements as (

    select {{ blocks }}, {{ part }}
    from candidate_complements
    where preference = 1

)

select
    units.{{ block_keys | join(', units.') }},
    units.{{ part }},
    units.is_primary or complements.{{ part }} is not null as is_hidden

from units
left join complements using ({{ blocks }}, {{ part }})

union all

-- a block that needs a complement and has none: its ALL rows go instead
select
    blocks_to_complete.{{ block_keys | join(', blocks_to_complete.') }},
    '{{ total }}' as {{ part }},
    true as is_hidden

from blocks_to_complete
anti join complements using ({{ blocks }})

{%- endmacro %}


{#
    The hidden_by expression for a count decided by units_hidden_together, joined to the row as
    unit_is_hidden: a non-zero site cell follows its unit (hidden when the unit is unknown: fail
    closed), an ALL cell is hidden when it is itself 1-10 or its block has no complement. Zeros
    are shown, as everywhere (score_trajectories has no row for them at all): an ALL of 0 says
    only what its sites' shown zeros say.
#}
{% macro hidden_with_unit(count, part='site_id', total='ALL') -%}
    case
        when {{ part }} = '{{ total }}'
            then (coalesce(unit_is_hidden, false) and {{ count }} <> 0)
                or {{ count }} between 1 and {{ var('small_cell_max') }}
        else {{ count }} <> 0 and coalesce(unit_is_hidden, true)
    end
{%- endmacro %}


{#
    The rows of `relation` with their unit's decision from units_hidden_together (as
    unit_is_hidden), joined on the block keys and the site: the `cells` that
    suppress_small_cells(hidden_by={count: hidden_with_unit(count)}) reads.
#}
{% macro with_unit_decisions(relation, units, block_keys, part='site_id') -%}
    select
        cells.*,
        units.is_hidden as unit_is_hidden

    from {{ relation }} as cells
    left join ({{ units }}) as units
        on {% for key in block_keys %}cells.{{ key }} = units.{{ key }} and {% endfor %}cells.{{ part }} = units.{{ part }}
{%- endmacro %}

