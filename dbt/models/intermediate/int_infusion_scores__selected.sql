-- One row per given session (infusion k of its course) and instrument (those with outcome
-- measures) that has an after-infusion score: the latest complete administration after
-- session k starts and before session k+1 of the course starts; after the course's last
-- session, within `after_infusion_max_days` (7) calendar days of it, by date (issue #4). The
-- selection is shared with the baseline and endpoint (macros/latest_complete_administration.sql);
-- only the window is this model's.

{{ latest_complete_administration(
    anchors=ref('int_sessions__assigned_to_courses'),
    key='session_id',
    carried=['course_id', 'infusion_number'],
    within="administration.administered_at > anchor.session_start
        and (
            administration.administered_at < anchor.next_session_start
            or (
                anchor.next_session_start is null
                and " ~ days_between('anchor.session_start', 'administration.administered_at') ~ "
                    <= windows.after_infusion_max_days
            )
        )",
    named='after_infusion',
) }}
