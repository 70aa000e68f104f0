{#
    Fails for every combination of `combination` columns that occurs on more than one row:
    the grain (key) of a model.
#}
{% test unique_combination_of_columns(model, combination) %}

select
    {{ combination | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
