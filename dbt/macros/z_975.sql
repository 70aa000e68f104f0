{#
    z = 1.959963984540054, the 0.975 quantile of the standard normal distribution: the
    multiplier of every two-sided 95% interval the warehouse publishes, the Wilson score
    interval of a rate (macros/wilson_interval.sql, Wilson 1927) and the normal-approximation
    interval of a mean (marts/score_trajectories.sql). One home, so the two intervals can never
    use different z; published as the rule `z_975` in reference.rules.
#}

{% macro z_975() -%}
    1.959963984540054
{%- endmacro %}
