-- Months an operator retracted (`outcomes retract`): which file version was taken out, when and
-- why. A later delivery of the month undoes a retraction; the row stays as the audit trail.
select
    export,
    export_month,
    source_file,
    file_sha256,
    reason,
    retracted_at
from {{ source('raw', 'retractions') }}
