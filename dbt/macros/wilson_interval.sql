{#
    Wilson score interval (Wilson 1927) for a proportion successes / trials, 95% two-sided:
    z = z_975() = 1.959963984540054, the 0.975 quantile of the standard normal (macros/z_975.sql).

        centre     = p + z^2 / (2n)
        half-width = z * sqrt(p (1 - p) / n + z^2 / (4 n^2))
        bound      = (centre -/+ half-width) / (1 + z^2 / n)

    For n = 0 the interval is NULL. For 0/n the lower bound is exactly 0 and for n/n the upper
    bound exactly 1 (the formula gives them up to rounding: 1 - 1e-16 would put the bound
    below the rate). Known values: 0/10 -> [0, 0.2775], 10/10 -> [0.7225, 1],
    3/10 -> [0.1078, 0.6032] (statsmodels proportion_confint, method='wilson').
#}

{% macro wilson_bound(successes, trials, side) -%}
    {%- set z = z_975() -%}
    {%- set n = "cast(" ~ trials ~ " as double)" -%}
    {%- set p = "(" ~ successes ~ " / " ~ n ~ ")" -%}
    case
        when {{ trials }} is null or {{ trials }} = 0 then null
        {% if side == 'low' -%}
        when {{ successes }} = 0 then 0.0
        {%- else -%}
        when {{ successes }} = {{ trials }} then 1.0
        {%- endif %}
        else (
            {{ p }} + {{ z }} * {{ z }} / (2 * {{ n }})
            {{ '-' if side == 'low' else '+' }} {{ z }} * sqrt({{ p }} * (1 - {{ p }}) / {{ n }} + {{ z }} * {{ z }} / (4 * {{ n }} * {{ n }}))
        ) / (1 + {{ z }} * {{ z }} / {{ n }})
    end
{%- endmacro %}


{% macro wilson_low(successes, trials) -%}
    {{ wilson_bound(successes, trials, 'low') }}
{%- endmacro %}


{% macro wilson_high(successes, trials) -%}
    {{ wilson_bound(successes, trials, 'high') }}
{%- endmacro %}


{# The proportion itself, NULL for n = 0. #}
{% macro proportion(successes, trials) -%}
    case when {{ trials }} > 0 then {{ successes }} / cast({{ trials }} as double) end
{%- endmacro %}
