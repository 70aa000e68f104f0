-- One row per course and instrument (those with outcome measures) that has an endpoint: the
-- latest complete administration `endpoint_first_day` to `endpoint_last_day` (14 to 42)
-- calendar days after the course's first session, inclusive, by date (issue #4). The
-- selection is shared with the baseline and after-infusion scores
-- (macros/latest_complete_administration.sql); only the window is this model's.

{{ latest_complete_administration(
    anchors=ref('int_courses__summarized'),
    key='course_id',
    within=days_between('anchor.course_start', 'administration.administered_at')
        ~ " between windows.endpoint_first_day and windows.endpoint_last_day",
    named='endpoint',
) }}
