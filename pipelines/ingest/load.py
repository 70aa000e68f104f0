"""Load one landing file into its raw DuckDB table, as text, with lineage columns.

The steps, all set-based in DuckDB:
1. sha256 of the bytes: a version already seen is a no-op (identical re-delivery);
2. the header: PHI-looking columns or a missing required column reject the file whole;
3. the rows, into a temporary table (never the warehouse file) with DuckDB's reader told
   the columns, malformed lines going to a rejects table instead of failing the read;
4. the PHI value scan over every text value and every malformed line, then the id columns'
   shapes (pipelines/ingest/id_shapes.py), then whether the delivery is whole (a sidecar
   manifest, the last line, the record count against earlier versions: completeness.py):
   each rejects the file whole;
5. in one transaction: the month's rows in raw.<export> replaced (the rows they replace move
   to raw.<export>_superseded, kept for reproducing past builds), malformed lines kept in
   raw.malformed_lines (likewise), the version recorded in raw.file_versions.
A month an operator retracted (`outcomes retract`) stays out while the retracted file sits in
landing untouched: delivering a file again (other bytes, or the same bytes written anew)
undoes the retraction.
A failure at any step leaves the previous state of the month untouched.

Raw tables keep every contract column as VARCHAR so that one bad value never fails a
file; typing and rule checks happen in the validate stage.

`line_number` is the record number with the header as 1: the physical line, unless a
quoted field spans lines (DuckDB's rejects table counts records the same way).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from pipelines import contract
from pipelines.ingest.completeness import check_complete, check_manifest_digest, read_manifest
from pipelines.ingest.discover import LandingFile, header_place, sha256_of
from pipelines.ingest.header import FileRejected, line_ending_problem, read_header
from pipelines.ingest.id_shapes import check_id_shapes
from pipelines.ingest.phi import PhiRejected, scan_header, scan_values, shown_column
from pipelines.ingest.tables import ensure_ingest_tables
from pipelines.redaction import masked
from pipelines.settings import ENV_TIMEZONE, clinic_timezone, id_patterns
from pipelines.sql import lit, q, transaction

_scan_ids = itertools.count(1)


@dataclass(frozen=True)
class LoadResult:
    """What happened to one file."""

    export: str
    month: str
    file: str
    sha256: str
    status: str  # loaded | unchanged | rejected | retracted
    records: int = 0  # data records read: loaded into raw + malformed
    malformed: int = 0
    reason: str | None = None  # why a file was rejected; never holds a row value
    drift: tuple[str, ...] = field(default=())  # unknown, harmless columns that were ignored


def describe_error(exc: Exception) -> str:
    """The first line of a DuckDB error with quoted literals and long numbers masked (row values)."""
    return masked(str(exc)) or type(exc).__name__


def missing_columns_message(file: LandingFile, header: Sequence[str], missing: Sequence[str]) -> str:
    """The rejection for missing required columns; names in another case are pointed out (names are
    case-sensitive, as in the contract: `SESSION_ID` is not `session_id`)."""
    by_lower = {h.lower(): h for h in header}
    cased = [f"{by_lower[m.lower()]!r} should be {m!r}" for m in missing if m.lower() in by_lower]
    hint = f" (column names are lower case, as in the contract: {', '.join(cased[:3])}" + \
        (f" and {len(cased) - 3} more)" if len(cased) > 3 else ")") if cased else ""
    return (f"{file.path.name}: {header_place(file.path.name)}: missing required column(s) "
            f"{', '.join(missing)} for the {file.export} export{hint}")


def load_names(export: str, header: Sequence[str]) -> list[str]:
    """The name each delivered column has in the load's own tables: a contract column keeps its
    name, any other column is `_extra_<position>`.

    The load adds lineage (`line_number`) and helper columns (`k`, DuckDB's `rowid`) of its own,
    and DuckDB's names are case-insensitive: a delivered column named `line_number`, `rowid`,
    `k` or `SESSION_ID` must neither replace them nor collide with them (issue #13). Unknown
    columns are ignored whatever their names; only their contents are scanned for PHI.
    """
    known = set(contract.export(export).column_names)
    return [name if name in known else f"_extra_{position}" for position, name in enumerate(header, 1)]


def _parquet_text(file: LandingFile, position: int, kind: str, column: str) -> str:
    """A Parquet column as the contract's text: times with a zone as the clinics' local time
    (OUTCOMES_TIMEZONE; without it the file is rejected, never guessed), a DATE in a timestamp
    column as that day at 00:00, everything else as DuckDB writes it (timestamps of any precision
    as `2025-03-14 09:30:00[.fff]`, which the contract's pattern accepts)."""
    ref = f"p{position}"
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        zone = clinic_timezone()
        if zone is None:
            raise FileRejected(
                f"{file.path.name}: column {shown_column(column, position)!r} holds times with a time zone "
                f"(TIMESTAMP WITH TIME ZONE); set {ENV_TIMEZONE} to the clinics' time zone (an IANA name "
                "such as America/Chicago) to read them as local times; file rejected")
        return f"CAST(timezone({lit(zone)}, {ref}) AS VARCHAR)"
    if kind == "DATE" and column in _TIMESTAMP_COLUMNS.get(file.export, ()):
        return f"CAST(CAST({ref} AS TIMESTAMP) AS VARCHAR)"
    return f"CAST({ref} AS VARCHAR)"


_TIMESTAMP_COLUMNS = {e: tuple(c.name for c in contract.export(e).columns if c.dtype == "TIMESTAMP")
                      for e in contract.EXPORTS}


def _read_incoming(con: duckdb.DuckDBPyConnection, file: LandingFile, header: list[str],
                   names: list[str]) -> str:
    """Read the file's rows into the temp view _incoming (all text, columns named `names` from
    `load_names`, line_number); returns the rejects table."""
    path = lit(str(file.path))
    scan = next(_scan_ids)
    rejects, scans = f"_rejects_{scan}", f"_reject_scans_{scan}"
    _drop_temps(con, None)
    if file.is_parquet:
        # Columns by position (t(p1, p2, ...)), whatever the file calls them; the row order made a
        # column by row_number() OVER (), which DuckDB guarantees to follow the file's order.
        positions = ", ".join(f"p{i}" for i in range(1, len(header) + 1))
        source = f"read_parquet({path}) AS t({positions})"
        types = [row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        select = ", ".join(f"{_parquet_text(file, i, kind, h)} AS {q(n)}"
                           for i, (n, h, kind) in enumerate(zip(names, header, types, strict=True), 1))
        con.execute(
            f"CREATE TEMP TABLE _incoming_lined AS SELECT {select}, row_number() OVER () + 1 AS line_number "
            f"FROM {source}"
        )
        con.execute("CREATE TEMP VIEW _incoming AS SELECT * FROM _incoming_lined")
        con.execute(f"CREATE TEMP TABLE {rejects} (line BIGINT, error_type VARCHAR, "
                    "column_name VARCHAR, error_message VARCHAR, csv_line VARCHAR, quote_column VARCHAR)")
        return rejects
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
    # DuckDB's rejects name the load's columns: the delivered names go back in (raw.malformed_lines).
    renamed = " ".join(f"WHEN {lit(n)} THEN {lit(h)}" for n, h in zip(names, header, strict=True) if n != h)
    delivered = f"CASE column_name {renamed} ELSE column_name END" if renamed else "column_name"
    con.execute(
        f"CREATE TEMP TABLE _incoming_raw AS SELECT * FROM read_csv({path}, columns={columns}, "
        "header=true, auto_detect=false, delim=',', quote='\"', escape='\"', "
        f"store_rejects=true, rejects_table='{rejects}', rejects_scan='{scans}')"
    )
    con.execute(f"DROP TABLE IF EXISTS {scans}")
    # DuckDB logs one error per missing column; a malformed line is one record, so fold them.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {rejects} AS
        SELECT line, string_agg(DISTINCT error_type, '; ' ORDER BY error_type) AS error_type,
               string_agg(column_name, ', ' ORDER BY column_idx) AS column_name,
               min(error_message) AS error_message, min(csv_line) AS csv_line,
               min(column_name) FILTER (error_type = 'UNQUOTED VALUE') AS quote_column
        FROM (SELECT * REPLACE ({delivered} AS column_name) FROM {rejects}) GROUP BY line"""
    )
    if not con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0]:  # type: ignore[index]
        # The common case, no malformed record: row k (insertion order = file order) is record
        # k + 1, the header being record 1. A view, not a copy: copying and sorting every row to
        # number it cost twice the read itself.
        con.execute("CREATE TEMP VIEW _incoming AS SELECT *, rowid + 2 AS line_number FROM _incoming_raw")
        return rejects
    # Accepted row k (insertion order = file order) sits at record k + 1 plus the number of
    # malformed records before it: t_j = line_j - 1 - j rows are accepted before the j-th reject.
    # Adjacent rejects share a t_j; the last of them counts (ASOF would pick any one of a tie).
    con.execute(
        f"""CREATE TEMP TABLE _incoming_lined AS
        WITH t AS (SELECT before, max(j) AS j FROM (
                       SELECT line - 1 - row_number() OVER (ORDER BY line) AS before,
                              row_number() OVER (ORDER BY line) AS j FROM {rejects})
                   GROUP BY before),
             r AS (SELECT *, rowid + 1 AS k FROM _incoming_raw)
        SELECT r.* EXCLUDE (k), r.k + 1 + coalesce(t.j, 0) AS line_number
        FROM r ASOF LEFT JOIN t ON r.k > t.before
        ORDER BY r.k"""
    )
    con.execute("DROP TABLE _incoming_raw")
    con.execute("CREATE TEMP VIEW _incoming AS SELECT * FROM _incoming_lined")
    return rejects


def _unreadable(file: LandingFile, exc: duckdb.Error) -> FileRejected:
    """The rejection for a file DuckDB's reader gave up on, naming the line when it can be found."""
    text = describe_error(exc).replace(str(file.path), file.path.name)
    if "state machine reached an invalid state" in text:
        where = line_ending_problem(file.path)
        if where:
            return FileRejected(f"{file.path.name}: {where}; file rejected (the reader cannot split it into "
                                "records)")
    return FileRejected(f"{file.path.name}: cannot be read: {text}")


def _reject_runaway_quote(con: duckdb.DuckDBPyConnection, file: LandingFile, rejects: str) -> None:
    """Reject the file when a malformed record's quote runs on over the lines after it.

    An opening quote that is not closed on its own line swallows every following line up to
    the next quote (or the end of the file) into one field: those lines are neither rows nor
    malformed lines of their own, so the file's record count, and every count derived from
    it, would silently shrink. A broken quote on the last line (or closed on its own line)
    stays an ordinary malformed line.
    """
    runaway = con.execute(
        f"""SELECT line, quote_column, len(regexp_split_to_array(body, '\\r\\n|\\r|\\n')) - 1 AS more
        FROM (SELECT line, quote_column, trim(csv_line, chr(13) || chr(10)) AS body FROM {rejects})
        WHERE quote_column IS NOT NULL AND more > 0 ORDER BY line LIMIT 1"""
    ).fetchone()
    if runaway:
        line, column, more = runaway
        raise FileRejected(
            f"{file.path.name}: line {line}, column {column!r}: a quote opened here is not closed on its "
            f"line and runs over the next {more} line(s), so they cannot be told apart as records; "
            "file rejected"
        )


def _drop_temps(con: duckdb.DuckDBPyConnection, rejects: str | None) -> None:
    con.execute("DROP VIEW IF EXISTS _incoming")
    con.execute("DROP TABLE IF EXISTS _incoming_lined")
    con.execute("DROP TABLE IF EXISTS _incoming_raw")
    if rejects:
        con.execute(f"DROP TABLE IF EXISTS {rejects}")


def _record_version(
    con: duckdb.DuckDBPyConnection, file: LandingFile, digest: str, now: datetime, result: LoadResult,
    synthetic: bool = False,
) -> None:
    if result.status == "loaded":
        con.execute(
            "UPDATE raw.file_versions SET is_current = false WHERE export = ? AND export_month = ?",
            [file.export, file.month],
        )
    else:
        latest = con.execute(
            "SELECT file_sha256, status, reason FROM raw.file_versions WHERE export = ? AND export_month = ? "
            "ORDER BY recorded_at DESC LIMIT 1", [file.export, file.month]).fetchone()
        if latest == (digest, result.status, result.reason):
            return  # the same bytes rejected for the same reason as last time: one row says it
    con.execute(
        "INSERT INTO raw.file_versions (export, export_month, source_file, file_sha256, size_bytes, records, "
        "malformed, status, reason, schema_drift, recorded_at, is_current, synthetic) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [file.export, file.month, file.path.name, digest, file.path.stat().st_size, result.records,
         result.malformed, result.status, result.reason, list(result.drift), now,
         result.status == "loaded", synthetic],
    )


def _still_retracted(con: duckdb.DuckDBPyConnection, file: LandingFile, digest: str) -> str | None:
    """When the month's latest event is a retraction of these bytes and the file was not written
    since: the retraction's reason (the file stays out). Otherwise None (a re-delivery)."""
    row = con.execute(
        "SELECT file_sha256, retracted_at, reason FROM raw.retractions WHERE export = ? AND export_month = ? "
        "AND retracted_at >= coalesce((SELECT max(recorded_at) FROM raw.file_versions WHERE export = ? "
        "AND export_month = ? AND status = 'loaded'), TIMESTAMP '1900-01-01') "
        "ORDER BY retracted_at DESC LIMIT 1",
        [file.export, file.month, file.export, file.month]).fetchone()
    if row is None:
        return None
    sha, retracted_at, reason = row
    written = datetime.fromtimestamp(file.path.stat().st_mtime, UTC).replace(tzinfo=None)
    return reason if sha in (digest, None) and written <= retracted_at else None


def supersede(con: duckdb.DuckDBPyConnection, export: str, month: str, digest: str | None, now: datetime,
               why: str) -> None:
    """Move the month's current rows and malformed lines to the superseded tables (inside the
    caller's transaction). `digest`: a version coming back as current leaves the superseded
    tables, so each version's rows are kept exactly once."""
    for table, where in ((f"raw.{export}", "export_month = $m"),
                         ("raw.malformed_lines", "export = $e AND export_month = $m")):
        params = {"m": month, "e": export} if "$e" in where else {"m": month}
        if digest is not None:
            con.execute(f"DELETE FROM {table}_superseded WHERE {where} AND file_sha256 = $d",
                        {**params, "d": digest})
        con.execute(f"INSERT INTO {table}_superseded SELECT *, $now, $why FROM {table} WHERE {where}",
                    {**params, "now": now, "why": why})
        con.execute(f"DELETE FROM {table} WHERE {where}", params)


def load_file(con: duckdb.DuckDBPyConnection, file: LandingFile,
              patterns: Mapping[str, str] | None = None, synthetic: bool = False) -> LoadResult:
    """Load (or skip, or reject) one landing file; see the module docstring for the steps.

    `patterns`: the id columns' shapes (settings.id_patterns(), read once by the caller for all
    its files); read here when not given. `synthetic`: the landing folder holds generated exports
    (recorded with the version, so a build holding it is marked synthetic).
    """
    ensure_ingest_tables(con)
    digest = sha256_of(file.path)
    # The month's current version, delivered again: nothing to do. A rejected file is judged
    # again on every run: the network's id shapes or the rules may have changed since.
    seen = con.execute(
        "SELECT records, malformed, reason FROM raw.file_versions WHERE export = ? AND "
        "export_month = ? AND file_sha256 = ? AND is_current",
        [file.export, file.month, digest],
    ).fetchone()
    if seen:
        return LoadResult(file.export, file.month, file.path.name, digest, "unchanged", int(seen[0]),
                          int(seen[1]), seen[2])
    retracted = _still_retracted(con, file, digest)
    if retracted is not None:
        return LoadResult(file.export, file.month, file.path.name, digest, "retracted",
                          reason=f"{file.path.name}: retracted ({retracted}); deliver the file again to "
                          "undo the retraction")

    now = datetime.now(UTC).replace(tzinfo=None)
    exp = contract.export(file.export)
    rejects: str | None = None
    drift: tuple[str, ...] = ()
    try:
        manifest = read_manifest(file)
        check_manifest_digest(file, manifest, digest)
        header = read_header(con, file)
        header_scan = scan_header(file.path.name, file.export, header)
        drift = header_scan.drift
        if header_scan.phi:
            raise PhiRejected(header_scan.phi)
        if header_scan.missing_required:
            raise FileRejected(missing_columns_message(file, header, header_scan.missing_required))
        names = load_names(file.export, header)
        try:
            rejects = _read_incoming(con, file, header, names)
        except duckdb.Error as exc:
            raise _unreadable(file, exc) from None
        findings = scan_values(con, file.path.name, "_incoming", header, names)
        findings += scan_values(
            con, file.path.name, f"(SELECT csv_line, line AS line_number FROM {rejects})", ["csv_line"]
        )
        if findings:
            raise PhiRejected(findings)
        check_id_shapes(con, file.path.name, "_incoming", names,
                        id_patterns() if patterns is None else patterns)
        _reject_runaway_quote(con, file, rejects)
        accepted = con.execute("SELECT count(*) FROM _incoming").fetchone()[0]  # type: ignore[index]
        malformed = con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0]  # type: ignore[index]
        check_complete(con, file, int(accepted) + int(malformed), manifest)
    except (FileRejected, PhiRejected) as exc:
        _drop_temps(con, rejects)
        result = LoadResult(file.export, file.month, file.path.name, digest, "rejected", reason=str(exc),
                            drift=drift)
        _record_version(con, file, digest, now, result, synthetic)
        return result

    result = LoadResult(file.export, file.month, file.path.name, digest, "loaded",
                        int(accepted) + int(malformed), int(malformed), drift=drift)
    select = ", ".join(q(c) if c in header else f"NULL::VARCHAR AS {q(c)}" for c in exp.column_names)
    try:
        with transaction(con):
            supersede(con, exp.name, file.month, digest, now, "re-delivery")
            con.execute(
                f"INSERT INTO raw.{exp.name} SELECT {select}, ?, ?, ?, line_number, ? FROM _incoming",
                [file.month, file.path.name, digest, now],
            )
            con.execute(
                "INSERT INTO raw.malformed_lines SELECT ?, ?, ?, ?, line, error_type, column_name, "
                f"error_message, csv_line, ? FROM {rejects}",
                [file.export, file.month, file.path.name, digest, now],
            )
            _record_version(con, file, digest, now, result, synthetic)
    except duckdb.Error as exc:  # rolled back: the month as it was
        raise RuntimeError(
            f"{file.path.name}: load failed, previous state kept: {describe_error(exc)}"
        ) from None
    finally:
        _drop_temps(con, rejects)
    return result
