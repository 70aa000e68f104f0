{#
    The months a p-chart's centre line pools for `this_month` (Benneyan 2001): the
    var('control_chart_baseline_months') calendar months before it, the month itself excluded,
    same site. One definition for marts/ae_control_chart.sql, which pools them, and
    reporting/reporting_ae_control_chart.sql, which hides p_bar when one of them is hidden: the
    two must never disagree on the window, or a hidden month could be solved for (issue #10).
#}
{% macro control_chart_pool(this_month, pooled) -%}
    {{ this_month }}.site_id = {{ pooled }}.site_id
        and {{ pooled }}.month >= {{ this_month }}.month - interval {{ var('control_chart_baseline_months') }} month
        and {{ pooled }}.month < {{ this_month }}.month
{%- endmacro %}
