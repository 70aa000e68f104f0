-- Quarantined rows by export, month, reason and whether held as orphans: counts only, no row
-- values. A row failing several rules counts once per reason; a malformed line counts under
-- the reason `malformed_line` (never held).
with reasons as (

    {% for export in ['sessions', 'vitals', 'questionnaires'] %}
    select '{{ export }}' as export, export_month, {{ list_into_rows('reasons') }} as reason, held
    from {{ source('quarantine', export) }}
    union all
    {% endfor %}
    select export, export_month, '{{ var("malformed_reason") }}' as reason, false as held
    from {{ source('raw', 'malformed_lines') }}

)

select export, export_month, reason, held, count(*) as n_rows
from reasons
group by export, export_month, reason, held
