-- One row: the last day of the latest month that both the sessions and the questionnaires
-- exports have reached (scores decide numerators, sessions populations). A follow-up window that
-- closes after it is still open: the measures over it are provisional (quality_measures,
-- sustained_response).

select
    last_day(cast(least(sessions.latest_month, questionnaires.latest_month) || '-01' as date))
        as last_covered_day

from (select max(export_month) as latest_month from {{ ref('stg_sessions') }}) as sessions
cross join (select max(export_month) as latest_month from {{ ref('stg_questionnaires') }}) as questionnaires
