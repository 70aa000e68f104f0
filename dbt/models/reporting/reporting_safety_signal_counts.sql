-- marts.safety_signal_counts with small cells suppressed. A site's reasons are related beyond
-- the site total (each reason <= any <= the sum of the reasons): with `any` and one reason
-- shown, a hidden reason is bounded from below, and the ALL rows can close the range. So the
-- flagged-session counts (n_sessions) are hidden by whole site-month blocks, every reason and
-- `any` together (macros/units_hidden_together.sql); the sessions given follow the usual rule
-- (macros/suppress_small_cells.sql).
{%- set block_keys = ['month'] %}
{%- set units = units_hidden_together(ref('safety_signal_counts'), block_keys, 'reason', 'n_sessions') %}

with cells as (

    {{ with_unit_decisions(ref('safety_signal_counts'), units, block_keys) }}

),

suppressed as (

    {{ suppress_small_cells(
        relation='cells',
        keys=['month', 'reason'],
        counts=['n_sessions_given', 'n_sessions'],
        hidden_by={'n_sessions': hidden_with_unit('n_sessions')},
        columns=['month', 'site_id', 'reason', 'n_sessions_given', 'n_sessions'],
    ) }}

)

select * from suppressed
