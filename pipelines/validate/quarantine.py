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
from pipelines.validate.rules import derived_columns, over_derived, row_rules, typed

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


def _table_reasons(export_name: str) -> list[tuple[str, str]]:
    """(reason, SQL predicate) pairs that look at other tables (loaded sessions), row by row.

    `m` is the row's raw table; for sessions, `_other_month` (see `_other_month_sessions`) holds
    the session ids that belong to a month other than the row's."""
    if export_name == "sessions":
        return [(
            "session_id.in_other_month",
            "EXISTS (SELECT 1 FROM _other_month o WHERE o.session_id = trim(m.session_id) "
            "AND o.export_month = m.export_month)",
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


def _other_month_sessions(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    """Temp table _other_month(session_id, export_month): a session id of the batch's rows that is
    already someone else's month, for `session_id.in_other_month`.

    A session belongs to one month. Staged months outside the batch keep their sessions; inside
    the batch the earliest month holding the id keeps it (as when months were staged one by one,
    in order), provided its row passes the row rules there (already in _flags otherwise)."""
    con.execute("DROP TABLE IF EXISTS _other_month")
    con.execute(
        """CREATE TEMP TABLE _other_month AS
        WITH batch AS (SELECT DISTINCT trim(session_id) AS session_id, export_month
                       FROM raw.sessions m WHERE export_month IN (SELECT unnest($months::VARCHAR[]))
                       AND trim(session_id) <> ''),
        owners AS (SELECT session_id, export_month FROM staging.sessions
                   WHERE export_month NOT IN (SELECT unnest($months::VARCHAR[]))
                   UNION ALL
                   SELECT DISTINCT trim(m.session_id), m.export_month FROM raw.sessions m
                   ANTI JOIN _flags f ON f.export_month = m.export_month AND f.line_number = m.line_number
                   WHERE m.export_month IN (SELECT unnest($months::VARCHAR[])))
        SELECT DISTINCT b.session_id, b.export_month FROM batch b JOIN owners o
            ON o.session_id = b.session_id AND o.export_month <> b.export_month
        WHERE o.export_month NOT IN (SELECT unnest($months::VARCHAR[])) OR o.export_month < b.export_month""",
        params,
    )


def _flag_rows(con: duckdb.DuckDBPyConnection, export_name: str, months: list[str], now: datetime) -> None:
    """Temp table _flags(export_month, line_number, copy_rank, reasons): only the batch's rows that
    do not go to staging.

    Rows passing every rule are not copied here: staging takes the batch's raw rows minus
    these. Duplicates are looked for only among rows whose key may occur more than once in its
    month (an aggregate of key hashes finds those keys), so the windows run over a handful of
    rows, not the batch. Among them, exact copies rank > 1 (collapsed) and distinct rows sharing a key
    conflict. Every rule is evaluated once per row for all the batch's months: the fixed cost of
    a query (planning, compiling the rules' regular expressions) is paid once per export.
    """
    exp = contract.export(export_name)
    in_batch = "m.export_month IN (SELECT unnest($months::VARCHAR[]))"
    batch_rows = f"raw.{exp.name} m WHERE {in_batch}"
    # The rules read each value cast once (rules.derived_columns), not once per rule.
    derived = ", ".join(f"{sql} AS {q(alias)}" for alias, sql in derived_columns(export_name).items())
    derived = derived.replace("{", "{{").replace("}", "}}")  # with_key is a template (regex quantifiers)
    # Joins, not correlated EXISTS: DuckDB plans a hash anti/semi join for these (10x faster here).
    with_key = (f"(SELECT *, {derived} FROM raw.{exp.name}) m {{join}} JOIN _repeated r ON {{on_key}} "
                f"WHERE {in_batch}")
    row_reasons = _cases([(r.name, over_derived(export_name, r.violation))
                          for r in row_rules(export_name, now)])
    table_reasons = [] if export_name == "sessions" else [_cases(_table_reasons(export_name))]
    reasons = f"list_concat({row_reasons}, {', '.join(table_reasons)})" if table_reasons else row_reasons
    # Candidates for a repeated key by the key's 64-bit hash: an aggregate of 8-byte values over
    # all the run's months stays small where the keys themselves (four strings for vitals) would
    # spill. A collision only sends a row through the exact windows below. NULL keys compare
    # equal here, as they do in GROUP BY.
    key_parts = ["m.export_month", *(f"coalesce(trim(m.{q(k)}), chr(0))" for k in exp.key)]
    key_hash = f"hash({', '.join(key_parts)})"
    on_key = f"r.h = {key_hash}"
    key_present = " AND ".join(f"nullif(trim({q(k)}), '') IS NOT NULL" for k in exp.key)
    every_column = ", ".join(q(c) for c in ("export_month", *exp.column_names))
    for table in ("_repeated", "_flags"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    params = {"months": months}
    con.execute(
        f"CREATE TEMP TABLE _repeated AS SELECT {key_hash} AS h FROM {batch_rows} "
        "GROUP BY ALL HAVING count(*) > 1",
        params,
    )
    con.execute(
        f"""CREATE TEMP TABLE _flags AS
        SELECT export_month, line_number, 1::BIGINT AS copy_rank, reasons FROM (
            SELECT m.export_month, m.line_number, {reasons} AS reasons
            FROM {with_key.format(join="ANTI", on_key=on_key)})
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
            SELECT export_month, line_number, copy_rank,
                   CASE WHEN copy_rank = 1 AND {key_present} AND count(*) FILTER (copy_rank = 1)
                        OVER (PARTITION BY export_month, {", ".join(f"trim({q(k)})" for k in exp.key)}) > 1
                        THEN list_append(reasons, 'key.conflict') ELSE reasons END AS reasons
            FROM ranked)
        SELECT * FROM judged WHERE copy_rank > 1 OR len(reasons) > 0""",
        params,
    )
    if export_name == "sessions":
        # Judged after the row rules: the earliest month keeps a session only with a good row there.
        _other_month_sessions(con, params)
        (name, predicate), = _table_reasons("sessions")
        con.execute(
            f"""UPDATE _flags f SET reasons = list_append(f.reasons, '{name}')
            FROM raw.sessions m WHERE m.export_month = f.export_month AND m.line_number = f.line_number
            AND f.copy_rank = 1 AND {predicate}""")
        con.execute(
            f"""INSERT INTO _flags SELECT m.export_month, m.line_number, 1, ['{name}']
            FROM raw.sessions m ANTI JOIN _flags f ON f.export_month = m.export_month
                AND f.line_number = m.line_number
            WHERE {in_batch} AND {predicate}""", params)
        con.execute("DROP TABLE _other_month")
    if export_name == "questionnaires":
        # Judged among otherwise good rows only: one bad item is quarantined for its own reason
        # and leaves an incomplete administration, not a suspect one.
        con.execute(
            f"""INSERT INTO _flags
            WITH good AS (SELECT m.* FROM raw.questionnaires m ANTI JOIN _flags f
                              ON f.export_month = m.export_month AND f.line_number = m.line_number
                          WHERE {in_batch}),
            suspect AS (SELECT export_month, trim(response_id) AS response_id FROM good GROUP BY ALL
                        HAVING count(DISTINCT (trim(patient_id), trim(instrument), trim(administered_at),
                                               coalesce(trim(session_id), ''))) > 1)
            SELECT g.export_month, g.line_number, 1, ['response.inconsistent'] FROM good g
            SEMI JOIN suspect s ON s.export_month = g.export_month AND s.response_id = trim(g.response_id)""",
            params,
        )
    con.execute("DROP TABLE _repeated")


def stage_month(con: duckdb.DuckDBPyConnection, export_name: str, month: str,
                now: datetime | None = None) -> StageResult:
    """`stage_months` for one month."""
    return stage_months(con, export_name, [month], now)[0]


def stage_months(con: duckdb.DuckDBPyConnection, export_name: str, months: list[str],
                 now: datetime | None = None) -> list[StageResult]:
    """Replace the months' staging and quarantine rows from raw, in one transaction, and account for
    each month (in the order of `months`). Each month needs a current file version."""
    if not months:
        return []
    ensure_validate_tables(con)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    exp = contract.export(export_name)
    _flag_rows(con, export_name, months, now)
    typed_cols = ", ".join(f"{typed(c)} AS {q(c.name)}" for c in exp.columns)
    text_cols = ", ".join(f"m.{q(c)}" for c in exp.column_names)
    lineage = "m.export_month, m.source_file, m.file_sha256, m.line_number, m.ingested_at"
    held = f"len(list_filter(reasons, lambda x: x NOT IN {sql_list(ORPHAN_REASONS)})) = 0"
    in_batch = "export_month IN (SELECT unnest($months::VARCHAR[]))"
    params = {"months": months}
    try:
        with transaction(con):
            con.execute(f"DELETE FROM staging.{exp.name} WHERE {in_batch}", params)
            con.execute(f"DELETE FROM quarantine.{exp.name} WHERE {in_batch}", params)
            con.execute(
                f"INSERT INTO staging.{exp.name} SELECT {typed_cols}, {lineage} FROM raw.{exp.name} m "
                "ANTI JOIN _flags f ON f.export_month = m.export_month AND f.line_number = m.line_number "
                f"WHERE m.{in_batch}",
                params,
            )
            con.execute(
                f"INSERT INTO quarantine.{exp.name} SELECT {text_cols}, {lineage}, reasons, {held}, $now "
                f"FROM raw.{exp.name} m JOIN _flags f ON f.export_month = m.export_month "
                f"AND f.line_number = m.line_number WHERE m.{in_batch} AND copy_rank = 1",
                {**params, "now": now},
            )
            results = _account(con, export_name, months, now)
    finally:
        con.execute("DROP TABLE IF EXISTS _flags")
    return results


def _account(con: duckdb.DuckDBPyConnection, export_name: str, months: list[str],
             now: datetime) -> list[StageResult]:
    """Count where each month's rows went, from the tables themselves, and record it."""
    versions = {row[0]: row[1:] for row in con.execute(
        "SELECT export_month, source_file, file_sha256, records, malformed FROM raw.file_versions "
        "WHERE export = $e AND is_current AND export_month IN (SELECT unnest($months::VARCHAR[]))",
        {"e": export_name, "months": months}).fetchall()}
    missing = [m for m in months if m not in versions]
    if missing:
        raise RuntimeError(f"no current {export_name} file loaded for {', '.join(missing)}")
    correction = ", ".join(lit(r) for r in CORRECTION_REASONS)
    counts = {row[0]: row[1:] for row in con.execute(
        f"""WITH months AS (SELECT unnest($months::VARCHAR[]) AS export_month),
        staged AS (SELECT export_month, count(*) AS n FROM staging.{export_name}
                   WHERE export_month IN (SELECT export_month FROM months) GROUP BY 1),
        kept AS (SELECT export_month, count(*) AS n, count(*) FILTER (held) AS held,
                        count(*) FILTER (held AND list_has_any(reasons, [{correction}])) AS by_correction
                 FROM quarantine.{export_name}
                 WHERE export_month IN (SELECT export_month FROM months) GROUP BY 1),
        copies AS (SELECT export_month, count(*) AS n FROM _flags WHERE copy_rank > 1 GROUP BY 1)
        SELECT export_month, coalesce(staged.n, 0), coalesce(kept.n, 0), coalesce(kept.held, 0),
               coalesce(copies.n, 0), coalesce(kept.by_correction, 0)
        FROM months LEFT JOIN staged USING (export_month) LEFT JOIN kept USING (export_month)
        LEFT JOIN copies USING (export_month)""",
        {"months": months}).fetchall()}
    results = []
    for month in months:
        rows_read, malformed = versions[month][2:]
        loaded, quarantined, held, collapsed, by_correction = (int(n) for n in counts[month])
        results.append(StageResult(export_name, month, int(rows_read), loaded, quarantined + int(malformed),
                                   held, int(malformed), collapsed, by_correction))
    con.execute("DELETE FROM quarantine.file_accounting WHERE export = $e "
                "AND export_month IN (SELECT unnest($months::VARCHAR[]))",
                {"e": export_name, "months": months})
    con.executemany(
        "INSERT INTO quarantine.file_accounting (export, export_month, source_file, file_sha256, "
        "rows_read, rows_loaded, rows_quarantined, rows_held, rows_malformed, duplicates_collapsed, "
        "balanced, checked_at, rows_held_by_correction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[export_name, r.month, versions[r.month][0], versions[r.month][1], r.rows_read, r.loaded,
          r.quarantined, r.held, r.malformed, r.collapsed, r.balanced, now, r.held_by_correction]
         for r in results],
    )
    return results


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
    orphan = [pred for name, pred in _table_reasons(export_name) if name in ORPHAN_REASONS]
    resolvable = " AND ".join(f"NOT coalesce({pred}, false)" for pred in orphan)
    rows = con.execute(
        f"SELECT DISTINCT export_month FROM quarantine.{export_name} WHERE held AND {resolvable} ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]
