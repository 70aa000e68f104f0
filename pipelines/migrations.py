"""Moves a warehouse built by an older version into today's layout (docs/architecture.md).

Issue #11 gave every schema one writer: malformed lines moved from quarantine.malformed_lines
(written by ingest) to raw.malformed_lines, and validate's per-file accounting from
data_quality.file_accounting to quarantine.file_accounting (data_quality is dbt's now). A
warehouse that has the old tables keeps their rows: they are moved, in one transaction, the
first time a stage opens it. Months not re-delivered keep their malformed lines and accounting.
"""

from __future__ import annotations

import duckdb

from pipelines.sql import has_table, transaction


def adopt_older_layout(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Move the tables of the pre-#11 layout; returns what was moved (empty when nothing was).

    Ingest and validate call it before they create their tables; malformed lines move once
    raw.malformed_lines exists. Idempotent: the old tables are gone afterwards.
    """
    moved: list[str] = []
    old_malformed = has_table(con, "quarantine", "malformed_lines") \
        and has_table(con, "raw", "malformed_lines")
    # data_quality.file_accounting is validate's old table only while quarantine has none:
    # today validate writes quarantine.file_accounting before dbt ever builds the model.
    old_accounting = has_table(con, "data_quality", "file_accounting") \
        and not has_table(con, "quarantine", "file_accounting")
    if not (old_malformed or old_accounting):
        return moved
    with transaction(con):
        if old_malformed:
            con.execute("INSERT INTO raw.malformed_lines SELECT * FROM quarantine.malformed_lines")
            con.execute("DROP TABLE quarantine.malformed_lines")
            moved.append("quarantine.malformed_lines -> raw.malformed_lines")
        if old_accounting:
            con.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
            con.execute("CREATE TABLE quarantine.file_accounting AS "
                        "SELECT * FROM data_quality.file_accounting")
            con.execute("DROP TABLE data_quality.file_accounting")
            moved.append("data_quality.file_accounting -> quarantine.file_accounting")
    return moved
