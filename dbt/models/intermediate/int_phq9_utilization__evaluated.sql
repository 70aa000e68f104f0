-- One row per patient and HEDIS DMS-E assessment period (phq9_assessment_periods: January-April,
-- May-August, September-December) in which the patient had a given depression session
-- (quality_measure_indications): the denominator of PHQ-9 utilisation. Site: the period's first
-- depression session. has_phq9: a complete PHQ-9 (one with a total score) administered in the
-- same period, at any site.

with periods as (select * from {{ ref('phq9_assessment_periods') }}),

encounters as (

    select patient_id, assessment_period_start as period_start, site_id
    from {{ ref('int_depression_sessions__listed') }}
    where is_first_of_assessment_period

),

phq9_periods as (

    select distinct
        administrations.patient_id,
        make_date(year(administrations.administered_at), periods.first_month, 1) as period_start

    from {{ ref('int_administrations__scored') }} as administrations
    inner join periods
        on month(administrations.administered_at) between periods.first_month and periods.last_month
    where administrations.instrument = 'PHQ9' and administrations.is_complete

)

select
    encounters.patient_id,
    encounters.period_start,
    encounters.site_id,
    phq9_periods.patient_id is not null as has_phq9

from encounters
left join phq9_periods
    on encounters.patient_id = phq9_periods.patient_id
    and encounters.period_start = phq9_periods.period_start
