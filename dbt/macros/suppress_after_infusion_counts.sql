{#
    Small-cell suppression of a table of after-infusion counts: reporting.response_by_infusion
    (n_assessed) and reporting.score_trajectories (n_courses). Both count the same courses (a
    course scored after infusion k, with its baseline), so one decision hides both: whole site
    blocks of cohort month x instrument (macros/units_hidden_together.sql), decided once on
    marts.response_by_infusion's n_assessed, then the table's own counts and derived values
    (macros/suppress_small_cells.sql). One definition, because a block hidden in one table and
    shown in the other would give its counts away.

    Arguments:
      relation      the unsuppressed mart (a ref), one row per cohort month x site x instrument x step
      step          the column that tells a block's rows apart (infusion_number, timepoint)
      unit_count    the count hidden by whole site blocks (n_assessed, n_courses)
      counts, derived, also_primary, columns: as for suppress_small_cells
#}

{% macro suppress_after_infusion_counts(relation, step, unit_count, counts, columns, derived={}, also_primary={}) -%}
    {%- set block_keys = ['cohort_month', 'instrument'] -%}
    {%- set units = units_hidden_together(ref('response_by_infusion'), block_keys, 'infusion_number', 'n_assessed') -%}

with cells as (

    {{ with_unit_decisions(relation, units, block_keys) }}

),

suppressed as (

    {{ suppress_small_cells(
        relation='cells',
        keys=block_keys + [step],
        counts=counts,
        also_primary=also_primary,
        hidden_by={unit_count: hidden_with_unit(unit_count)},
        derived=derived,
        columns=columns,
    ) }}

)

select * from suppressed

{%- endmacro %}
