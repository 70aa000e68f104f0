{#
    Whether a follow-up score meets an outcome measure, applied generically from the
    outcome_measures seed row aliased `measure` (its rule_kind and parameters):

      percent_reduction  percent_denominator x (baseline - followup) >= percent_numerator x baseline
                         (integers: an exact 30% or 50% is never lost to floating point)
      endpoint_below     followup < below_score
      points_reduction   baseline - followup >= min_points
      points_increase    followup - baseline >= min_points
      item_increase      the answer to `item` is higher at follow-up than at baseline

    Eligibility (the baseline) is checked by the caller; this is only the rule.
#}
{% macro outcome_rule_met(measure, baseline_score, followup_score, baseline_item_value='null', followup_item_value='null') -%}
    case {{ measure }}.rule_kind
        when 'percent_reduction'
            then {{ measure }}.percent_denominator * ({{ baseline_score }} - {{ followup_score }})
                >= {{ measure }}.percent_numerator * {{ baseline_score }}
        when 'endpoint_below'
            then {{ followup_score }} < {{ measure }}.below_score
        when 'points_reduction'
            then {{ baseline_score }} - {{ followup_score }} >= {{ measure }}.min_points
        when 'points_increase'
            then {{ followup_score }} - {{ baseline_score }} >= {{ measure }}.min_points
        when 'item_increase'
            then {{ followup_item_value }} > {{ baseline_item_value }}
    end
{%- endmacro %}


{# Whether a baseline total makes a course eligible for the measure (empty minimum: any baseline). #}
{% macro outcome_baseline_eligible(measure, baseline_score) -%}
    ({{ baseline_score }} is not null
        and ({{ measure }}.baseline_min_score is null or {{ baseline_score }} >= {{ measure }}.baseline_min_score))
{%- endmacro %}
