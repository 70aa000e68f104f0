{{ config(meta={'dagster': {'ref': {'name': 'pcl5_clusters'}}}) }}

-- Every item of a PCL-5 cluster carries the same minimum of endorsed items, and the clusters
-- list each PCL-5 item of the instruments seed once. Returns one row per problem. (The meta
-- above tells Dagster which asset this check belongs to, as the test reads two seeds.)

select 'cluster ' || cluster || ' has more than one minimum of endorsed items' as problem
from {{ ref('pcl5_clusters') }}
group by cluster
having count(distinct cluster_min_endorsed) > 1

union all

select 'pcl5_clusters do not list items 1-' || instruments.n_items as problem
from {{ ref('instruments') }} as instruments
where instruments.instrument = 'PCL5'
    and (
        select count(distinct item) from {{ ref('pcl5_clusters') }}
        where item between 1 and instruments.n_items
    ) <> instruments.n_items
