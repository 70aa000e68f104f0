{{ config(meta={'dagster': {'ref': {'name': 'reference_rules'}}}) }}

-- The monthly report's headline cohort (the report month minus report_headline_lag_months) has
-- had its endpoint window: a course starting on the cohort month's last day has its window close
-- endpoint_last_day days later (assessment_windows seed), and the report month ends at least
-- 28 days x the lag after that day (no month is shorter). Returns the two values when the
-- window can still be open. (The meta above tells Dagster which asset this check belongs to,
-- as the test reads a model and a seed.)

select
    rules.value as report_headline_lag_months,
    windows.endpoint_last_day

from {{ ref('reference_rules') }} as rules
cross join {{ ref('assessment_windows') }} as windows
where rules.rule = 'report_headline_lag_months'
    and 28 * rules.value < windows.endpoint_last_day
