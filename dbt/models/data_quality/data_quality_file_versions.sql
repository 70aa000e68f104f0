-- Every landing file version seen, with its status and, for a rejected file, why (never a row
-- value): the ingest stage's manifest (raw.file_versions).
select
    export,
    export_month,
    source_file,
    file_sha256,
    size_bytes,
    records,
    malformed,
    status,
    reason,
    schema_drift,
    recorded_at,
    is_current,
    synthetic
from {{ source('raw', 'file_versions') }}
