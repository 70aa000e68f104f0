-- Sustained response among induction responders, per cohort month (the course's first session),
-- site (plus ALL), instrument (PCL-5, PHQ-9) and checkpoint (3 and 6 months after the induction
-- endpoint, the latest score +/- 30 days: durability_checkpoints). n_responders: courses whose
-- endpoint met the response rule; n_assessed: those with a score in the checkpoint's window;
-- n_sustained: those whose score still meets the rule; the rate is over n_assessed, with the
-- Wilson 95% interval, and n_missing keeps attrition visible, as response_rates does. A cohort
-- whose windows close after the last day both exports have reached is provisional.

with evaluated as (select * from {{ ref('int_sustained_response__evaluated') }}),
coverage as (select * from {{ ref('int_export_coverage__summarized') }}),
checkpoints as (select * from {{ ref('durability_checkpoints') }}),
windows as (select * from {{ ref('assessment_windows') }}),

counts as (

    {{ network_counts(
        rows='evaluated',
        keys=['cohort_month', 'instrument', 'months_after_endpoint'],
        counts={
            'n_responders': 'count(*)',
            'n_assessed': 'count(*) filter (where has_score)',
            'n_sustained': 'count(*) filter (where is_sustained)',
            'n_missing': 'count(*) filter (where not has_score)',
        },
    ) }}

),

closing as (

    select
        counts.*,
        -- the cohort's last possible endpoint (its month's last day + endpoint_last_day), plus the window
        {{ add_days(add_months(add_days('last_day(counts.cohort_month)', 'windows.endpoint_last_day'),
                               'counts.months_after_endpoint'), 'checkpoints.half_width_days') }}
            as window_closes_on

    from counts
    inner join checkpoints
        on counts.months_after_endpoint = checkpoints.months_after_endpoint
    cross join windows

)

select
    closing.cohort_month,
    closing.site_id,
    closing.instrument,
    closing.months_after_endpoint,
    closing.n_responders,
    closing.n_assessed,
    closing.n_sustained,
    closing.n_missing,
    {{ rate_with_wilson_interval('closing.n_sustained', 'closing.n_assessed') }},
    closing.window_closes_on,
    closing.window_closes_on > coverage.last_covered_day as is_provisional

from closing
cross join coverage
