-- One row per course and instrument (those with outcome measures) that has a baseline: the
-- latest complete administration from `baseline_lookback_days` (30) calendar days before the
-- course's first session, by date, up to that session's start time. On the start day only an
-- administration before the start time counts (issue #4; design choice of this project).
-- The selection is shared with the endpoint and after-infusion scores
-- (macros/latest_complete_administration.sql); only the window is this model's.

{{ latest_complete_administration(
    anchors=ref('int_courses__summarized'),
    key='course_id',
    within="cast(administration.administered_at as date)
            >= cast(anchor.course_start as date) - windows.baseline_lookback_days
        and administration.administered_at < anchor.course_start",
    named='baseline',
) }}
