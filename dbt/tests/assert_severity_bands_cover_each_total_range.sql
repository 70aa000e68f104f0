{{ config(meta={'dagster': {'ref': {'name': 'severity_bands'}}}) }}

-- The severity bands of an instrument follow one another without gap or overlap and cover its
-- total range (instruments seed). Returns one row per problem. (The meta above tells Dagster
-- which asset this check belongs to, as the test reads two seeds.)

with bands as (

    select
        severity_bands.instrument,
        severity_bands.band,
        severity_bands.score_min,
        lag(severity_bands.score_max) over (
            partition by severity_bands.instrument order by severity_bands.band_order
        ) as previous_max,
        min(severity_bands.score_min) over (partition by severity_bands.instrument) as lowest,
        max(severity_bands.score_max) over (partition by severity_bands.instrument) as highest,
        instruments.total_min,
        instruments.total_max

    from {{ ref('severity_bands') }} as severity_bands
    inner join {{ ref('instruments') }} as instruments
        on severity_bands.instrument = instruments.instrument

)

select instrument || ' band ' || band || ' does not start right after the band before it' as problem
from bands
where previous_max is not null and score_min <> previous_max + 1

union all

select distinct instrument || ' bands do not cover the total range' as problem
from bands
where lowest <> total_min or highest <> total_max
