-- data_quality.quarantine_reasons per export month, export and reason (held or not), with
-- small cells suppressed (macros/suppress_small_cells.sql, var small_cell_max). Reasons
-- overlap (a row can fail several rules), so they add up to nothing: a count of 1-10 is
-- hidden on its own. The malformed_line reason counts the same lines as
-- reporting.file_accounting's rows_malformed, so it is hidden exactly when that is.
{%- set decided -%}
(
    with reasons as (

        select export_month, export, reason, cast(sum(n_rows) as bigint) as n_rows
        from {{ ref('data_quality_quarantine_reasons') }}
        group by export_month, export, reason

    ),

    malformed_hidden as (

        select export_month, export
        from {{ ref('reporting_file_accounting') }}
        where {{ list_has('suppressed_cells', "'rows_malformed'") }}

    )

    select
        reasons.*,
        reasons.n_rows between 1 and {{ var('small_cell_max') }}
        or (reasons.reason = '{{ var("malformed_reason") }}' and exists (
            select 1 from malformed_hidden as m
            where m.export_month = reasons.export_month and m.export = reasons.export
        )) as hide__n_rows
    from reasons
)
{%- endset %}

{{ suppress_small_cells(
    relation=decided,
    keys=['export_month', 'export'],
    counts=['n_rows'],
    columns=['export_month', 'export', 'reason', 'n_rows'],
    hidden_by={'n_rows': 'hide__n_rows'},
    part='reason',
) }}
