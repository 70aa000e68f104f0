{{ config(incremental_by_month('session_month')) }}

-- One row per given session and reported adverse-event term, parsed from the export's
-- `term:grade;term:grade` text (controlled terms, CTCAE grades 1-5). Cancelled sessions
-- carry none (issue #4). A term listed twice keeps its highest grade. Incremental by month of
-- session start (macros/refresh_months.sql).

with sessions as (

    select * from {{ ref('stg_sessions') }}
    where is_given
        and adverse_events is not null
        and {{ refresh_month_filter('session_month') }}

),

parts as (

    -- one row per `term:grade` (a generator such as Spark's explode may not be nested in trim)
    select
        session_month,
        session_id,
        {{ split_into_rows('adverse_events', "';'") }} as part

    from sessions

),

pairs as (

    select session_month, session_id, trim(part) as term_and_grade
    from parts

)

select
    session_id,
    lower(trim(split_part(term_and_grade, ':', 1))) as ae_term,
    max(cast(trim(split_part(term_and_grade, ':', 2)) as integer)) as grade,
    session_month

from pairs
where term_and_grade <> ''
group by session_month, session_id, ae_term
