"""Split one export month of raw rows into typed staging rows and quarantined rows, and account for both.

Every raw row ends in exactly one place:
- staging.<export>: typed, passing every rule;
- quarantine.<export>: original text values, lineage, and every reason it failed (a list);
  rows failing only because their session or patient is not loaded yet are `held` and
  re-tried on later runs, so a late sessions export adopts them;
- collapsed: an exact copy of an earlier row of the same file (counted, not kept).
Conflicting duplicates of a key (same key, different values) are all quarantined.
quarantine.file_accounting proves it per file: rows read = loaded + quarantined + collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from pipelines import contract
from pipelines.migrations import adopt_older_layout
from pipelines.sql import lit, q, sql_list, transaction
from pipelines.validate.rules import row_rules, typed

# Reasons that hold a row (re-tried on every run) rather than reject it: its session or patient is
# not loaded yet, or a corrected sessions file removed it.
ORPHAN_REASONS = ("session_id.orphan", "patient_id.orphan",
                  "session_id.removed_by_correction", "patient_id.removed_by_correction")
CORRECTION_REASONS = tuple(r for r in ORPHAN_REASONS if r.endswith(".removed_by_correction"))


@dataclass(frozen=True)
class StageResult:
    export: str
    month: str
    rows_read: int
    loaded: int
    quarantined: int
    held: int
    malformed: int
    collapsed: int
    held_by_correction: int = 0  # of `held`: rows whose session or patient a corrected file removed

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.loaded + self.quarantined + self.collapsed


def ensure_validate_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the staging and quarantine tables if missing (idempotent)."""
    adopt_older_layout(con)  # an older warehouse's accounting becomes quarantine.file_accounting first
    for schema in ("staging", "quarantine"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    lineage = ("export_month VARCHAR, source_file VARCHAR, file_sha256 VARCHAR, line_number BIGINT, "
               "ingested_at TIMESTAMP")
    for exp in contract.CONTRACT.values():
        typed_cols = ", ".join(f"{q(c.name)} {c.dtype}" for c in exp.columns)
        con.execute(f"CREATE TABLE IF NOT EXISTS staging.{exp.name} ({typed_cols}, {lineage})")
        text_cols = ", ".join(f"{q(c)} VARCHAR" for c in exp.column_names)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS quarantine.{exp.name} ({text_cols}, {lineage}, "
            "reasons VARCHAR[], held BOOLEAN, quarantined_at TIMESTAMP)"
        )
    con.execute(
        """CREATE TABLE IF NOT EXISTS quarantine.file_accounting (
            export VARCHAR, export_month VARCHAR, source_file VARCHAR, file_sha256 VARCHAR,
            rows_read BIGINT,        -- data records the reader saw (rows + malformed lines)
            rows_loaded BIGINT,      -- typed rows in staging
            rows_quarantined BIGINT, -- quarantined rows (including held orphans) + malformed lines
            rows_held BIGINT,        -- of which orphans held for a later sessions export
            rows_malformed BIGINT,   -- of which malformed lines
            duplicates_collapsed BIGINT,
            balanced BOOLEAN,
            checked_at TIMESTAMP
        )"""
    )
    # of rows_held: rows whose session or patient a corrected sessions file removed
    con.execute("ALTER TABLE quarantine.file_accounting ADD COLUMN IF NOT EXISTS "
                "rows_held_by_correction BIGINT DEFAULT 0")


def _removed(column: str) -> str:
    """A sessions-export id that an earlier version of a sessions file held and no current one does:
    a correction (or a retraction) removed it."""
    return (f"trim({column}) IN (SELECT trim({column}) FROM raw.sessions_superseded "
            f"WHERE {column} IS NOT NULL) AND trim({column}) NOT IN "
            f"(SELECT trim({column}) FROM raw.sessions WHERE {column} IS NOT NULL)")


def _orphan_pair(column: str, value: str) -> list[tuple[str, str]]:
    """A row whose session (or patient) is not loaded: held as an orphan, or, when a correction removed
    it, held for its own reason (`<column>.removed_by_correction`): no later export will adopt it
    unless the clinic re-sends the session; a re-delivery of this month or a retraction resolves it.
    `value`: the row's id as compared with staging.sessions."""
    missing = f"{value} NOT IN (SELECT {column} FROM staging.sessions)"
    return [(f"{column}.removed_by_correction", f"{missing} AND {_removed(column)}"),
            (f"{column}.orphan", f"{missing} AND NOT coalesce({_removed(column)}, false)")]


def _table_reasons(export_name: str, month: str) -> list[tuple[str, str]]:
    """(reason, SQL predicate) pairs that look at other tables (loaded sessions), row by row."""
    if export_name == "sessions":
        return [(
            "session_id.in_other_month",
            f"trim(session_id) IN (SELECT session_id FROM staging.sessions WHERE export_month <> '{month}')",
        )]
    if export_name == "vitals":
        return _orphan_pair("session_id", "trim(session_id)")
    return [
        *_orphan_pair("patient_id", "trim(patient_id)"),
        *_orphan_pair("session_id", "nullif(trim(session_id), '')"),
        ("session_id.other_patient",
         "trim(session_id) IN (SELECT session_id FROM staging.sessions) AND "
         "trim(session_id) || chr(31) || trim(patient_id) NOT IN "
         "(SELECT session_id || chr(31) || patient_id FROM staging.sessions)"),
    ]


def _cases(pairs: list[tuple[str, str]]) -> str:
    """A SQL list of the names of the predicates that hold, NULLs removed."""
    cases = ", ".join(f"CASE WHEN {pred} THEN '{name}' END" for name, pred in pairs)
    return f"list_filter([{cases}], lambda x: x IS NOT NULL)"


def _flag_rows(con: duckdb.DuckDBPyConnection, export_name: str, month: str, now: datetime) -> None:
    """Temp table _flags(line_number, copy_rank, reasons): only the month's rows that do not go to staging.

    Rows passing every rule are not copied here: staging takes the month's raw rows minus
    these. Duplicates are looked for only among rows whose key occurs more than once (a hash
    aggregate finds those keys), so the windows run over a handful of rows, not the month.
    Among them, exact copies rank > 1 (collapsed) and distinct rows sharing a key conflict.
    """
    exp = contract.export(export_name)
    month_rows = f"raw.{exp.name} m WHERE m.export_month = $month"
    # Joins, not correlated EXISTS: DuckDB plans a hash anti/semi join for these (10x faster here).
    with_key = f"raw.{exp.name} m {{join}} JOIN _repeated r ON {{on_key}} WHERE m.export_month = $month"
    reasons = (f"list_concat({_cases([(r.name, r.violation) for r in row_rules(export_name, now)])}, "
               f"{_cases(_table_reasons(export_name, month))})")
    # NULL keys compare equal here, as they do in GROUP BY.
    keys = [f"coalesce(trim(m.{q(k)}), chr(0))" for k in exp.key]
    key_names = [f"k{i}" for i in range(len(keys))]
    on_key = " AND ".join(f"r.{n} = {k}" for n, k in zip(key_names, keys, strict=True))
    key_present = " AND ".join(f"nullif(trim({q(k)}), '') IS NOT NULL" for k in exp.key)
    every_column = ", ".join(q(c) for c in exp.column_names)
    for table in ("_repeated", "_flags"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    params = {"month": month}
    key_select = ", ".join(f"{k} AS {n}" for k, n in zip(keys, key_names, strict=True))
    con.execute(
        f"CREATE TEMP TABLE _repeated AS SELECT {key_select} FROM {month_rows} "
        "GROUP BY ALL HAVING count(*) > 1",
        params,
    )
    con.execute(
        f"""CREATE TEMP TABLE _flags AS
        SELECT line_number, 1::BIGINT AS copy_rank, reasons FROM (
            SELECT m.line_number, {reasons} AS reasons FROM {with_key.format(join="ANTI", on_key=on_key)})
        WHERE len(reasons) > 0""",
        params,
    )
    con.execute(
        f"""INSERT INTO _flags
        WITH ranked AS (
            SELECT m.*, {reasons} AS reasons,
                   row_number() OVER (PARTITION BY {every_column} ORDER BY line_number) AS copy_rank
            FROM {with_key.format(join="SEMI", on_key=on_key)}),
        judged AS (
            SELECT line_number, copy_rank,
                   CASE WHEN copy_rank = 1 AND {key_present} AND count(*) FILTER (copy_rank = 1)
                        OVER (PARTITION BY {", ".join(f"trim({q(k)})" for k in exp.key)}) > 1
                        THEN list_append(reasons, 'key.conflict') ELSE reasons END AS reasons
            FROM ranked)
        SELECT * FROM judged WHERE copy_rank > 1 OR len(reasons) > 0""",
        params,
    )
    if export_name == "questionnaires":
        # Judged among otherwise good rows only: one bad item is quarantined for its own reason
        # and leaves an incomplete administration, not a suspect one.
        con.execute(
            f"""INSERT INTO _flags
            WITH good AS (SELECT * FROM {month_rows}
                          AND line_number NOT IN (SELECT line_number FROM _flags)),
            suspect AS (SELECT trim(response_id) AS response_id FROM good GROUP BY 1
                        HAVING count(DISTINCT (trim(patient_id), trim(instrument), trim(administered_at),
                                               coalesce(trim(session_id), ''))) > 1)
            SELECT line_number, 1, ['response.inconsistent'] FROM good
            WHERE trim(response_id) IN (SELECT response_id FROM suspect)""",
            params,
        )
    con.execute("DROP TABLE _repeated")


def stage_month(con: duckdb.DuckDBPyConnection, export_name: str, month: str,
                now: datetime | None = None) -> StageResult:
    """Replace the month's staging and quarantine rows from raw, in one transaction, and account for it."""
    ensure_validate_tables(con)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    exp = contract.export(export_name)
    _flag_rows(con, export_name, month, now)
    typed_cols = ", ".join(f"{typed(c)} AS {q(c.name)}" for c in exp.columns)
    text_cols = ", ".join(q(c) for c in exp.column_names)
    lineage = "export_month, source_file, file_sha256, line_number, ingested_at"
    held = f"len(list_filter(reasons, lambda x: x NOT IN {sql_list(ORPHAN_REASONS)})) = 0"
    try:
        with transaction(con):
            con.execute(f"DELETE FROM staging.{exp.name} WHERE export_month = ?", [month])
            con.execute(f"DELETE FROM quarantine.{exp.name} WHERE export_month = ?", [month])
            con.execute(
                f"INSERT INTO staging.{exp.name} SELECT {typed_cols}, {lineage} FROM raw.{exp.name} "
                "WHERE export_month = ? AND line_number NOT IN (SELECT line_number FROM _flags)",
                [month],
            )
            con.execute(
                f"INSERT INTO quarantine.{exp.name} SELECT {text_cols}, {lineage}, reasons, {held}, ? "
                f"FROM raw.{exp.name} JOIN _flags USING (line_number) "
                "WHERE export_month = ? AND copy_rank = 1",
                [now, month],
            )
            result = _account(con, export_name, month, now)
    finally:
        con.execute("DROP TABLE IF EXISTS _flags")
    return result


def _account(con: duckdb.DuckDBPyConnection, export_name: str, month: str, now: datetime) -> StageResult:
    """Count where the month's rows went, from the tables themselves, and record it."""
    version = con.execute(
        "SELECT source_file, file_sha256, records, malformed FROM raw.file_versions "
        "WHERE export = ? AND export_month = ? AND is_current",
        [export_name, month],
    ).fetchone()
    if version is None:
        raise RuntimeError(f"no current {export_name} file loaded for {month}")
    source_file, sha, rows_read, malformed = version
    counts = con.execute(
        f"""SELECT
            (SELECT count(*) FROM staging.{export_name} WHERE export_month = $m),
            (SELECT count(*) FROM quarantine.{export_name} WHERE export_month = $m),
            (SELECT count(*) FROM quarantine.{export_name} WHERE export_month = $m AND held),
            (SELECT count(*) FROM _flags WHERE copy_rank > 1),
            (SELECT count(*) FROM quarantine.{export_name} WHERE export_month = $m AND held
                AND list_has_any(reasons, [{", ".join(lit(r) for r in CORRECTION_REASONS)}]))""",
        {"m": month},
    ).fetchone()
    loaded, quarantined, held, collapsed, by_correction = (int(n) for n in counts)  # type: ignore[union-attr]
    result = StageResult(export_name, month, int(rows_read), loaded, quarantined + int(malformed), held,
                         int(malformed), collapsed, by_correction)
    con.execute("DELETE FROM quarantine.file_accounting WHERE export = ? AND export_month = ?",
                [export_name, month])
    con.execute(
        "INSERT INTO quarantine.file_accounting (export, export_month, source_file, file_sha256, "
        "rows_read, rows_loaded, rows_quarantined, rows_held, rows_malformed, duplicates_collapsed, "
        "balanced, checked_at, rows_held_by_correction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [export_name, month, source_file, sha, result.rows_read, result.loaded, result.quarantined,
         result.held, result.malformed, result.collapsed, result.balanced, now, result.held_by_correction],
    )
    return result


def retracted_months(con: duckdb.DuckDBPyConnection, export_name: str, months: list[str]) -> list[str]:
    """Months of `months` that still have staged rows but no current file version (retracted)."""
    ensure_validate_tables(con)
    rows = con.execute(
        "SELECT DISTINCT export_month FROM quarantine.file_accounting WHERE export = $e "
        "AND export_month IN (SELECT unnest($months::VARCHAR[])) AND export_month NOT IN "
        "(SELECT export_month FROM raw.file_versions WHERE export = $e AND is_current) ORDER BY 1",
        {"e": export_name, "months": months}).fetchall()
    return [r[0] for r in rows]


def clear_month(con: duckdb.DuckDBPyConnection, export_name: str, month: str) -> None:
    """Take a retracted month out of staging, quarantine and the accounting, in one transaction
    (its raw rows are kept in raw.<export>_superseded)."""
    with transaction(con):
        for table in (f"staging.{export_name}", f"quarantine.{export_name}"):
            con.execute(f"DELETE FROM {table} WHERE export_month = ?", [month])
        con.execute("DELETE FROM quarantine.file_accounting WHERE export = ? AND export_month = ?",
                    [export_name, month])


def months_with_lost_parents(con: duckdb.DuckDBPyConnection, export_name: str) -> list[str]:
    """Months whose staged rows name a session or patient that staging.sessions no longer holds (a
    corrected or retracted sessions file removed it): re-staged so those rows are held, not kept."""
    if export_name == "sessions":
        return []
    ensure_validate_tables(con)
    keys = ["session_id"] if export_name == "vitals" else ["session_id", "patient_id"]
    lost = " OR ".join(f"({k} IS NOT NULL AND {k} NOT IN (SELECT {k} FROM staging.sessions))" for k in keys)
    rows = con.execute(
        f"SELECT DISTINCT export_month FROM staging.{export_name} WHERE {lost} ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def months_with_adoptable_orphans(con: duckdb.DuckDBPyConnection, export_name: str) -> list[str]:
    """Months holding orphan rows whose session or patient has been loaded since."""
    if export_name == "sessions":
        return []
    ensure_validate_tables(con)
    # The same orphan predicates that held the rows: a row is adoptable when none holds any more.
    orphan = [pred for name, pred in _table_reasons(export_name, "") if name in ORPHAN_REASONS]
    resolvable = " AND ".join(f"NOT coalesce({pred}, false)" for pred in orphan)
    rows = con.execute(
        f"SELECT DISTINCT export_month FROM quarantine.{export_name} WHERE held AND {resolvable} ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]
