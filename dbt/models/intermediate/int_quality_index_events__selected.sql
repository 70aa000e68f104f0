-- One row per index event of the standard depression measures (quality_measure_rates seed): a
-- patient's first elevated complete PHQ-9 (total >= index_score_min, i.e. > 9) in a 12-month
-- intake period, for a patient with a given depression session (quality_measure_indications) in
-- the same intake period (HEDIS DRR-E's IESD, CMS159's and NQF 1885's index event). One index
-- event per patient and intake period: a later elevated score of the same period is not another
-- index. Site: the patient's first given depression session in the intake period. Intake
-- periods start in the month quality_measure_rules says (design choice of this project).

with rules as (select * from {{ ref('quality_measure_rules') }}),

-- the population of each intake period, at the site of its first depression session
population as (

    select patient_id, intake_year, site_id
    from {{ ref('int_depression_sessions__listed') }}
    where is_first_of_intake_period

),

elevated as (

    select
        administrations.patient_id,
        administrations.response_id,
        administrations.administered_at,
        administrations.total_score,
        year({{ add_months('administrations.administered_at', '1 - rules.intake_period_first_month') }})
            as intake_year

    from {{ ref('int_administrations__scored') }} as administrations
    cross join rules
    where administrations.instrument = 'PHQ9'
        and administrations.is_complete
        and administrations.total_score >= rules.index_score_min

),

first_elevated as (

    select
        *,
        row_number() over (
            partition by patient_id, intake_year order by administered_at, response_id
        ) as elevated_order

    from elevated

)

select
    first_elevated.response_id as index_response_id,
    first_elevated.patient_id,
    first_elevated.intake_year,
    population.site_id,
    first_elevated.administered_at as index_at,
    cast(first_elevated.administered_at as date) as index_date,
    cast(date_trunc('month', first_elevated.administered_at) as date) as cohort_month,
    first_elevated.total_score as index_score

from first_elevated
inner join population
    on first_elevated.patient_id = population.patient_id
    and first_elevated.intake_year = population.intake_year
where first_elevated.elevated_order = 1
