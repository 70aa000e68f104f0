"""Data-quality counts for the `reporting` schema, with small cells suppressed.

The clinical tables of `reporting` are suppressed in dbt (dbt/macros/suppress_small_cells.sql),
where the additive dimension is the site. The data-quality counts have another shape: per
export month and export, rows_read = rows_loaded + rows_quarantined + duplicates_collapsed, and
rows_held and rows_malformed are parts of rows_quarantined. They are counts of export rows, not
of patients, but they leave the team in the monthly report, so the same rule applies (CMS cell
size suppression policy: no count of 1-10, none derivable from the others). The table is a few
rows per month, so the rule is applied here in Python rather than in a second SQL macro.
"""

from __future__ import annotations

import duckdb

SMALL_CELL_MAX = 10  # the same threshold as dbt's var small_cell_max
ACCOUNTING_PARTS = ("rows_loaded", "rows_quarantined", "duplicates_collapsed")  # add up to rows_read
QUARANTINE_PARTS = ("rows_held", "rows_malformed")  # each a part of rows_quarantined
COUNTS = ("n_files", "rows_read", *ACCOUNTING_PARTS, *QUARANTINE_PARTS)
MALFORMED_REASON = "malformed_line"  # the quarantine reason of a malformed line (publish/warehouse.py)


def is_small(value: int | None) -> bool:
    return value is not None and 1 <= value <= SMALL_CELL_MAX


def hidden_accounting_cells(row: dict[str, int]) -> set[str]:
    """Columns of one export month's accounting row to hide (primary and complementary)."""
    hidden = {name for name in COUNTS if is_small(row[name])}
    for part in QUARANTINE_PARTS:  # the rest of the (shown) quarantined rows would be a small cell
        if "rows_quarantined" not in hidden and is_small(row["rows_quarantined"] - row[part]):
            hidden.add(part)
    if "rows_read" not in hidden:
        parts_hidden = [p for p in ACCOUNTING_PARTS if p in hidden]
        if parts_hidden and (len(parts_hidden) == 1 or sum(row[p] for p in parts_hidden) <= SMALL_CELL_MAX):
            candidates = sorted((row[p], p) for p in ACCOUNTING_PARTS
                                if p not in hidden and row[p] > SMALL_CELL_MAX)
            hidden.add(candidates[0][1] if candidates else "rows_read")
    return hidden


def create_reporting_data_quality(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """reporting.file_accounting and reporting.quarantine_reasons from `source` (a database name).

    Values travel by column name from the query to the table (never by position: issue #10
    found three columns swapped that way). The `malformed_line` reason counts the same lines
    as rows_malformed, so it is hidden exactly when rows_malformed is.
    """
    cursor = con.execute(f"""
        SELECT export_month, export, count(*) AS n_files, sum(rows_read) AS rows_read,
               sum(rows_loaded) AS rows_loaded, sum(rows_quarantined) AS rows_quarantined,
               sum(rows_held) AS rows_held, sum(rows_malformed) AS rows_malformed,
               sum(duplicates_collapsed) AS duplicates_collapsed
        FROM {source}.data_quality.file_accounting GROUP BY ALL ORDER BY ALL""")
    names = [d[0] for d in cursor.description]
    accounting = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    columns = ["export_month", "export", *COUNTS]
    con.execute("CREATE TABLE reporting.file_accounting (export_month VARCHAR, export VARCHAR, "
                + ", ".join(f"{c} BIGINT" for c in COUNTS) + ", suppressed_cells VARCHAR[])")
    malformed_hidden: set[tuple[str, str]] = set()
    for row in accounting:
        hidden = hidden_accounting_cells(row)
        if "rows_malformed" in hidden:
            malformed_hidden.add((row["export_month"], row["export"]))
        con.execute(f"INSERT INTO reporting.file_accounting ({', '.join(columns)}, suppressed_cells) "
                    f"VALUES ({', '.join('?' * (len(columns) + 1))})",
                    [*(None if c in hidden else row[c] for c in columns), [c for c in COUNTS if c in hidden]])
    # Reasons overlap (a row can fail several rules), so they add up to nothing: a small count
    # is hidden on its own; malformed lines follow rows_malformed.
    con.execute("CREATE TEMP TABLE malformed_hidden (export_month VARCHAR, export VARCHAR)")
    if malformed_hidden:
        con.executemany("INSERT INTO malformed_hidden VALUES (?, ?)", sorted(malformed_hidden))
    con.execute(f"""
        CREATE TABLE reporting.quarantine_reasons AS
        WITH reasons AS (
            SELECT export_month, export, reason, sum(n_rows)::BIGINT AS n_rows,
                   sum(n_rows) BETWEEN 1 AND {SMALL_CELL_MAX}
                   OR (reason = '{MALFORMED_REASON}' AND EXISTS (
                       FROM malformed_hidden AS m
                       WHERE m.export_month = q.export_month AND m.export = q.export))
                       AS hidden
            FROM data_quality.quarantine_reasons AS q GROUP BY export_month, export, reason
        )
        SELECT export_month, export, reason,
               CASE WHEN hidden THEN NULL ELSE n_rows END AS n_rows,
               CASE WHEN hidden THEN ['n_rows'] ELSE []::VARCHAR[] END AS suppressed_cells
        FROM reasons
        ORDER BY ALL""")
    con.execute("DROP TABLE malformed_hidden")
