-- One row per item answer of one questionnaire administration, as validated by the pipeline.

with source as (select * from {{ source('staging', 'questionnaires') }})

select
    response_id,
    patient_id,
    session_id,
    instrument,
    administered_at,
    item,
    value,
    export_month,
    source_file,
    line_number

from source
