-- The standard depression quality measures (quality_measure_rates seed), each adapted from its
-- specification as summarised in clinical-definitions.md, never certified: HEDIS DRR-E
-- (follow-up, remission, response 120-240 days after the index PHQ-9), CMS159 (remission) and
-- NQF 1885 (response) at 12 months +/- 60 days, HEDIS DMS-E (PHQ-9 utilisation per assessment
-- period). One row per cohort month (the index PHQ-9's month; for DMS-E the first month of the
-- assessment period), site (plus ALL) and rate: denominator, numerator, rate and Wilson 95%
-- interval, as response_rates. window_closes_on: the day by which every window of the cohort
-- has closed; a cohort whose windows close after the last day of the latest month both the
-- sessions and the questionnaires exports have reached is provisional (it can still change). Every row names its source, the exclusions the
-- exports cannot express, and the age strata.

with index_rates as (select * from {{ ref('int_quality_measures__evaluated') }}),
utilization as (select * from {{ ref('int_phq9_utilization__evaluated') }}),
measures as (select * from {{ ref('quality_measure_rates') }}),
quality_windows as (select * from {{ ref('quality_measure_windows') }}),
periods as (select * from {{ ref('phq9_assessment_periods') }}),
coverage as (select * from {{ ref('int_export_coverage__summarized') }}),

-- one row per denominator unit (index event, or patient with a depression session in a period)
evaluated as (

    select measure_id, measure, cohort_month, site_id, is_met
    from index_rates

    union all

    select measures.measure_id, measures.measure, utilization.period_start, utilization.site_id, utilization.has_phq9
    from utilization
    cross join measures
    where measures.population = 'depression_encounter'

),

-- every index event has a row for every index rate, every encounter one for DMS-E: the units
-- themselves give every cell a row, so no zero-filled grid is needed
counts as (

    {{ network_counts(
        rows='evaluated',
        keys=['cohort_month', 'measure_id', 'measure'],
        counts={
            'n_denominator': 'count(*)',
            'n_numerator': 'count(*) filter (where is_met)',
        },
    ) }}

),

closing as (

    select
        counts.*,
        measures.adapted_from,
        measures.exclusions_not_applied,
        measures.age_note,
        case measures.population
            -- the cohort month's last index date, plus its window
            when 'phq9_index' then {{ add_days(
                add_months('last_day(counts.cohort_month)', 'quality_windows.anchor_months'),
                'quality_windows.last_day') }}
            -- the assessment period's last day
            else last_day({{ add_months('counts.cohort_month', 'periods.last_month - periods.first_month') }})
        end as window_closes_on

    from counts
    inner join measures
        on counts.measure_id = measures.measure_id
        and counts.measure = measures.measure
    left join quality_windows
        on measures.window_name = quality_windows.window_name
    left join periods
        on measures.population = 'depression_encounter'
        and month(counts.cohort_month) = periods.first_month

)

select
    closing.cohort_month,
    closing.site_id,
    closing.measure_id,
    closing.measure,
    closing.n_denominator,
    closing.n_numerator,
    {{ rate_with_wilson_interval('closing.n_numerator', 'closing.n_denominator') }},
    closing.window_closes_on,
    closing.window_closes_on > coverage.last_covered_day as is_provisional,
    closing.adapted_from,
    closing.exclusions_not_applied,
    closing.age_note

from closing
cross join coverage
