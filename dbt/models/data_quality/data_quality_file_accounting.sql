-- Per loaded file: rows read = rows loaded + rows quarantined + duplicates collapsed, as the
-- validate stage recorded it (quarantine.file_accounting). Unsuppressed: the quality team's
-- view; reporting.file_accounting is what leaves the team.
select
    export,
    export_month,
    source_file,
    file_sha256,
    rows_read,
    rows_loaded,
    rows_quarantined,
    rows_held,
    rows_held_by_correction,
    rows_malformed,
    duplicates_collapsed,
    balanced,
    checked_at
from {{ source('quarantine', 'file_accounting') }}
