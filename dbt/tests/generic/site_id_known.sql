{#
    Fails for every site_id that is neither `ALL` (the whole network) nor a site of the
    sessions export: the accepted values of a site breakdown.
#}
{% test site_id_known(model, column_name) %}

select {{ column_name }} as site_id
from {{ model }}
where {{ column_name }} <> 'ALL'
    and {{ column_name }} not in (select site_id from {{ ref('stg_sessions') }})

{% endtest %}
