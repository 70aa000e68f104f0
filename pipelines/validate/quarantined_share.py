"""A file whose rows are mostly quarantined stops the run before publish (issue #13, item 3).

Quarantine keeps every bad row with its reasons, so nothing is lost; but a month whose file
lost a large share of its rows (millisecond timestamps nobody expected, the previous month's
rows delivered again) would publish shifted rates with only warnings. Held orphans do not
count: they are not lost, only waiting for their sessions. Tiny files are judged by count as
well as share, or one bad row of twenty would stop a network.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from pipelines.validate.quarantine import StageResult

MIN_ROWS = 10  # fewer quarantined rows than this never stop a run, whatever the share
TOP_REASONS = 3


def earlier_months_over_limit(con: duckdb.DuckDBPyConnection, export: str, skip: Sequence[str],
                              limit: float) -> list[StageResult]:
    """Months outside this run (`skip`) whose staged file is above the limit: a month that stopped
    one run keeps stopping every later run, whatever months it asks for, until a corrected file
    arrives, the month is retracted or the limit is raised (fail closed)."""
    rows = con.execute(
        """SELECT export_month, rows_read, rows_loaded, rows_quarantined, rows_held, rows_malformed,
                  duplicates_collapsed
           FROM quarantine.file_accounting
           WHERE export = $e AND export_month NOT IN (SELECT unnest($skip::VARCHAR[]))
             AND rows_read > 0 AND rows_quarantined - rows_held >= $min_rows
             AND (rows_quarantined - rows_held) / rows_read > $limit
           ORDER BY export_month""",
        {"e": export, "skip": list(skip), "min_rows": MIN_ROWS, "limit": limit}).fetchall()
    return [StageResult(export, month, *(int(n) for n in counts)) for month, *counts in rows]


def over_limit(con: duckdb.DuckDBPyConnection, export: str, results: Sequence[StageResult],
               limit: float) -> dict[str, str]:
    """month -> one line for each file of `results` above the limit: the file, the share, the counts,
    the top reasons."""
    lines = {}
    for result in results:
        lost = result.quarantined - result.held  # malformed lines count: they are rows that did not load
        if result.rows_read == 0 or lost < MIN_ROWS or lost / result.rows_read <= limit:
            continue
        file = con.execute(
            "SELECT source_file FROM quarantine.file_accounting WHERE export = ? AND export_month = ? "
            "ORDER BY checked_at DESC LIMIT 1", [export, result.month]).fetchone()
        reasons = con.execute(
            f"""SELECT reason, count(*) AS n FROM (
                    SELECT unnest(reasons) AS reason FROM quarantine.{export}
                    WHERE export_month = $month AND NOT held
                    UNION ALL
                    SELECT 'malformed line' FROM raw.malformed_lines
                    WHERE export = $export AND export_month = $month)
                GROUP BY reason ORDER BY n DESC, reason LIMIT {TOP_REASONS}""",
            {"month": result.month, "export": export}).fetchall()
        top = ", ".join(f"{reason} {n:,}" for reason, n in reasons)
        name = file[0] if file else f"{export} {result.month}"
        lines[result.month] = (
            f"{name}: {lost / result.rows_read:.1%} of its rows quarantined ({lost:,} of "
            f"{result.rows_read:,}; the limit is {limit:.1%}, OUTCOMES_MAX_QUARANTINED_SHARE): "
            f"{top}; nothing is published until a corrected file arrives or the limit is raised")
    return lines
