-- One row per course and instrument with a baseline, an endpoint or both, side by side.

with baselines as (select * from {{ ref('int_course_baselines__selected') }}),
endpoints as (select * from {{ ref('int_course_endpoints__selected') }})

select
    coalesce(baselines.course_id, endpoints.course_id) as course_id,
    coalesce(baselines.instrument, endpoints.instrument) as instrument,
    baselines.baseline_response_id,
    baselines.baseline_at,
    baselines.baseline_score,
    endpoints.endpoint_response_id,
    endpoints.endpoint_at,
    endpoints.endpoint_score

from baselines
full outer join endpoints
    on baselines.course_id = endpoints.course_id
    and baselines.instrument = endpoints.instrument
