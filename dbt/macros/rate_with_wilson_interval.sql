{#
    The three columns every published rate carries: the rate, and its Wilson 95% score interval
    ci_low, ci_high (macros/wilson_interval.sql), all three on the same scale (`per`: 1 for a
    proportion, 100 for a rate per 100 sessions) and all empty when there are no trials. One
    definition for response_rates, response_by_infusion and adverse_events, so a rate is never
    published without its interval or on another scale than it; the reporting schema hides the
    three together (macros/suppress_small_cells.sql, `derived`).
#}

{% macro rate_with_wilson_interval(successes, trials, rate='rate', per=1) -%}
    {%- set scale = '' if per == 1 else per ~ ' * ' -%}
    {{ scale }}{{ proportion(successes, trials) }} as {{ rate }},
    {{ scale }}{{ wilson_low(successes, trials) }} as ci_low,
    {{ scale }}{{ wilson_high(successes, trials) }} as ci_high
{%- endmacro %}
