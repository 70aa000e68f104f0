{#
    Checks a suppressed count column of a `reporting` table against its unsuppressed mart,
    independently of the suppression macro. Fails a row for each of:
      - a shown count of 1 to var('small_cell_max') (CMS cell size suppression policy);
      - a shown count that differs from the mart (suppression must hide, never alter);
      - a group (keys) whose total (`ALL`) is shown while its hidden site cells could be
        recovered from it: exactly one hidden, or several whose true sum is still 1-10;
      - a hidden cell not listed in suppressed_cells, or a listed one that is shown.
#}
{% test small_cells_protected(model, column_name, keys, unsuppressed, part='site_id', total='ALL') %}
{%- set max_shown_small = var('small_cell_max') -%}
{%- set key_list = keys | join(', ') -%}

with shown as (

    select {{ key_list }}, {{ part }}, {{ column_name }} as shown_value,
        {{ list_has('suppressed_cells', "'" ~ column_name ~ "'") }} as is_listed
    from {{ model }}

),

truth as (

    select {{ key_list }}, {{ part }}, {{ column_name }} as true_value
    from {{ unsuppressed }}

),

cells as (

    select shown.*, truth.true_value
    from shown
    inner join truth using ({{ key_list }}, {{ part }})

),

groups as (

    select
        {{ key_list }},
        bool_or({{ part }} = '{{ total }}' and shown_value is not null) as total_shown,
        count(*) filter (where {{ part }} <> '{{ total }}' and shown_value is null) as n_hidden,
        sum(true_value) filter (where {{ part }} <> '{{ total }}' and shown_value is null) as hidden_sum
    from cells
    group by {{ key_list }}

)

select 'small count shown' as problem, {{ key_list }}, {{ part }}
from cells where shown_value between 1 and {{ max_shown_small }}
union all
select 'shown count differs from the mart', {{ key_list }}, {{ part }}
from cells where shown_value is distinct from true_value and shown_value is not null
union all
select 'suppressed_cells disagrees with the value', {{ key_list }}, {{ part }}
from cells where is_listed is distinct from (shown_value is null and true_value is not null)
union all
select 'hidden cell recoverable from the total', {{ key_list }}, null
from groups
where total_shown and n_hidden >= 1 and (n_hidden = 1 or hidden_sum <= {{ max_shown_small }})

{% endtest %}
