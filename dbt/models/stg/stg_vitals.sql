-- One row per vital-sign reading, with the export's code (a measure name or a LOINC code)
-- mapped to the canonical measure through the measure_codes seed. A code the seed does not
-- know keeps its row with an empty measure, which the not_null test on `measure` reports.

with source as (select * from {{ source('staging', 'vitals') }}),
measure_codes as (select * from {{ ref('measure_codes') }})

select
    source.session_id,
    source.measured_at,
    measure_codes.measure,
    source.measure as measure_code,
    source.value,
    source.unit,
    source.export_month,
    source.source_file,
    source.line_number

from source
left join measure_codes
    on source.measure = measure_codes.code
