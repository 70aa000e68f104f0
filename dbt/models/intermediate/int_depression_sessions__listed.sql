-- One row per given session whose indication is depression (quality_measure_indications: MDD,
-- PTSD+MDD): the encounters that put a patient in the populations of the standard measures, with
-- the two periods they count in, and whether the session is the patient's first of each (the
-- session that gives the period its site). Intake periods: 12 calendar months from
-- quality_measure_rules.intake_period_first_month, named by the year they start in; HEDIS DMS-E
-- assessment periods: phq9_assessment_periods.

with rules as (select * from {{ ref('quality_measure_rules') }}),
periods as (select * from {{ ref('phq9_assessment_periods') }}),

depression_sessions as (

    select
        sessions.patient_id,
        sessions.session_id,
        sessions.site_id,
        sessions.session_start,
        year({{ add_months('sessions.session_start', '1 - rules.intake_period_first_month') }}) as intake_year,
        make_date(year(sessions.session_start), periods.first_month, 1) as assessment_period_start

    from {{ ref('stg_sessions') }} as sessions
    cross join rules
    inner join periods
        on month(sessions.session_start) between periods.first_month and periods.last_month
    where sessions.is_given
        and sessions.indication in (
            select indication from {{ ref('quality_measure_indications') }} where is_depression
        )

)

select
    patient_id,
    session_id,
    site_id,
    session_start,
    intake_year,
    assessment_period_start,
    row_number() over (
        partition by patient_id, intake_year order by session_start, session_id
    ) = 1 as is_first_of_intake_period,
    row_number() over (
        partition by patient_id, assessment_period_start order by session_start, session_id
    ) = 1 as is_first_of_assessment_period

from depression_sessions
