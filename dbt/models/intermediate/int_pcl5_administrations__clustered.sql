{{ config(incremental_by_month('export_month')) }}

-- One row per PCL-5 administration: DSM-5 cluster scores, endorsed items per cluster and the
-- provisional PTSD diagnosis (National Center for PTSD, Using the PCL-5): an item is
-- endorsed when rated >= 2, and the diagnosis needs >= 1 B, >= 1 C, >= 2 D and >= 2 E
-- endorsed items (both figures from the pcl5_clusters seed). Incomplete forms are kept with
-- empty scores and diagnosis.

with answers as (

    select * from {{ ref('stg_questionnaires') }}
    where instrument = 'PCL5'
        and {{ refresh_month_filter('export_month') }}

),

administrations as (

    select * from {{ ref('int_administrations__scored') }}
    where instrument = 'PCL5'
        and {{ refresh_month_filter('export_month') }}

),

clusters as (select * from {{ ref('pcl5_clusters') }}),

cluster_scores as (

    select
        answers.response_id,
        clusters.cluster,
        sum(answers.value) as cluster_score,
        count(*) filter (where answers.value >= clusters.endorsement_min_value) as n_endorsed,
        any_value(clusters.cluster_min_endorsed) as cluster_min_endorsed

    from answers
    inner join clusters
        on answers.item = clusters.item
    group by answers.response_id, clusters.cluster

),

per_administration as (

    select
        response_id,
        sum(cluster_score) filter (where cluster = 'B') as cluster_b_score,
        sum(cluster_score) filter (where cluster = 'C') as cluster_c_score,
        sum(cluster_score) filter (where cluster = 'D') as cluster_d_score,
        sum(cluster_score) filter (where cluster = 'E') as cluster_e_score,
        sum(n_endorsed) filter (where cluster = 'B') as cluster_b_endorsed,
        sum(n_endorsed) filter (where cluster = 'C') as cluster_c_endorsed,
        sum(n_endorsed) filter (where cluster = 'D') as cluster_d_endorsed,
        sum(n_endorsed) filter (where cluster = 'E') as cluster_e_endorsed,
        bool_and(n_endorsed >= cluster_min_endorsed) as every_cluster_met

    from cluster_scores
    group by response_id

)

select
    administrations.response_id,
    administrations.patient_id,
    administrations.administered_at,
    administrations.is_complete,
    administrations.total_score,
    {% for cluster in ['b', 'c', 'd', 'e'] -%}
    case when administrations.is_complete then cast(per_administration.cluster_{{ cluster }}_score as integer) end
        as cluster_{{ cluster }}_score,
    case when administrations.is_complete then cast(per_administration.cluster_{{ cluster }}_endorsed as integer) end
        as cluster_{{ cluster }}_endorsed,
    {% endfor -%}
    case when administrations.is_complete then per_administration.every_cluster_met end as is_provisional_diagnosis,
    administrations.export_month

from administrations
left join per_administration
    on administrations.response_id = per_administration.response_id
