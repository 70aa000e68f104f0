-- One row per index event and index-event rate of the standard measures (quality_measure_rates seed,
-- population phq9_index): whether the rate's rule is met by the most recent PHQ-9 in its window.
-- An index event without a PHQ-9 in the window stays in the denominator and does not meet the
-- rule (HEDIS DRR-E, CMS159, NQF 1885 count it as not met). Response: 100 x (index - follow-up)
-- >= min_reduction_percent x index, in integers, so 50% of an odd index score is not rounded.

with index_events as (select * from {{ ref('int_quality_index_events__selected') }}),
follow_ups as (select * from {{ ref('int_quality_follow_ups__selected') }}),

rates as (

    select * from {{ ref('quality_measure_rates') }}
    where population = 'phq9_index'

)

select
    index_events.index_response_id,
    index_events.patient_id,
    index_events.site_id,
    index_events.cohort_month,
    index_events.index_score,
    rates.measure_id,
    rates.measure,
    follow_ups.window_closes_on,
    follow_ups.follow_up_score,
    coalesce(
        case rates.rule_kind
            when 'any_score' then follow_ups.follow_up_score is not null
            when 'below_score' then follow_ups.follow_up_score < rates.below_score
            when 'percent_reduction'
                then 100 * (index_events.index_score - follow_ups.follow_up_score)
                    >= rates.min_reduction_percent * index_events.index_score
        end,
        false
    ) as is_met

from index_events
cross join rates
inner join follow_ups
    on index_events.index_response_id = follow_ups.index_response_id
    and rates.window_name = follow_ups.window_name
