{#
    Fails for every row where `expression` is false (on a model, or on a column: then the
    expression names the column itself). A NULL result passes (SQL's "unknown"),
    so a rule on a column that is NULL by design, such as a rate with n = 0, needs no guard.
#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
