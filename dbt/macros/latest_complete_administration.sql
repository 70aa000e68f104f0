{#
    The latest complete administration of each instrument with outcome measures (outcome_measures
    seed) in a window around an anchor: a course's first session for the baseline and the
    endpoint, a session for the after-infusion score. One definition for
    int_course_baselines__selected, int_course_endpoints__selected and
    int_infusion_scores__selected, which differ only in the anchor and the window: what counts
    as a score (complete forms only, never prorated: CamCOPS scores only complete PCL-5 forms),
    which instruments, and the tie-break (the latest by time, then by response id) must never
    differ between a baseline and the scores compared with it (issue #4).

    Arguments:
      anchors   a relation with one row per anchor, its patient_id and the columns `within` reads
      key       the anchor's identifier: one row per key and instrument
      carried   further anchor columns to keep, after the key
      within    a condition on `anchor` (the anchors' row), `administration`
                (int_administrations__scored) and `windows` (the assessment_windows seed)
      named     the output's prefix: <named>_response_id, <named>_at, <named>_score
#}

{% macro latest_complete_administration(anchors, key, within, named, carried=[]) -%}
    {%- set anchor_columns = [key] + carried -%}

with anchor as (

    select * from {{ anchors }}

),

administration as (

    select * from {{ ref('int_administrations__scored') }}
    where is_complete
        and instrument in (select instrument from {{ ref('outcome_measures') }})

),

windows as (

    select * from {{ ref('assessment_windows') }}

),

candidates as (

    select
        {%- for column in anchor_columns %}
        anchor.{{ column }},
        {%- endfor %}
        administration.instrument,
        administration.response_id,
        administration.administered_at,
        administration.total_score,
        -- the latest one in the window is number 1
        row_number() over (
            partition by anchor.{{ key }}, administration.instrument
            order by administration.administered_at desc, administration.response_id desc
        ) as recency

    from anchor
    cross join windows
    inner join administration
        on anchor.patient_id = administration.patient_id
    where {{ within }}

)

select
    {%- for column in anchor_columns %}
    {{ column }},
    {%- endfor %}
    instrument,
    response_id as {{ named }}_response_id,
    administered_at as {{ named }}_at,
    total_score as {{ named }}_score

from candidates
where recency = 1

{%- endmacro %}
