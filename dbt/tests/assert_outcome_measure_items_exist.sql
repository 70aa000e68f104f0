{{ config(meta={'dagster': {'ref': {'name': 'outcome_measures'}}}) }}

-- An item_increase measure names an item of its instrument (PHQ-9 item 9 of 1-9). Returns the
-- measures that do not. (The meta above tells Dagster which asset this check belongs to.)

select
    outcome_measures.instrument,
    outcome_measures.measure,
    outcome_measures.item

from {{ ref('outcome_measures') }} as outcome_measures
inner join {{ ref('instruments') }} as instruments
    on outcome_measures.instrument = instruments.instrument
where outcome_measures.item not between 1 and instruments.n_items
