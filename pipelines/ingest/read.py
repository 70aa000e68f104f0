"""Read landing files of one export into temporary tables, in one DuckDB scan for all of them.

`read_files` leaves the view `_incoming`: every delivered column as text (named by
`load.load_names`), `_file` (the file's position in the list) and `line_number` (the record
number with the header as 1, counted per file), plus a rejects table of malformed records
with the same `_file`. One `read_csv` over the file list reads every file of a run, so a
query's fixed costs (planning, compiling the PHI patterns) are paid once per export, not
once per file. The files must share one header (the caller groups them); a Parquet file is
read alone (its columns are taken by position and typed in the file).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import duckdb

from pipelines import contract
from pipelines.ingest.discover import LandingFile
from pipelines.ingest.header import FileRejected, line_ending_problem
from pipelines.ingest.phi import shown_column
from pipelines.redaction import masked
from pipelines.settings import ENV_TIMEZONE, clinic_timezone
from pipelines.sql import lit, q

_scan_ids = itertools.count(1)
_TIMESTAMP_COLUMNS = {e: tuple(c.name for c in contract.export(e).columns if c.dtype == "TIMESTAMP")
                      for e in contract.EXPORTS}
# The rejects table's columns, after folding DuckDB's one-error-per-column rows into one per record.
_REJECT_COLUMNS = ("_file INTEGER, line BIGINT, error_type VARCHAR, column_name VARCHAR, "
                   "error_message VARCHAR, csv_line VARCHAR, quote_column VARCHAR")


class InterleavedRead(duckdb.Error):
    """A multi-file read whose rows did not come file by file: read the files one at a time."""


def describe_error(exc: Exception) -> str:
    """The first line of a DuckDB error with quoted literals and long numbers masked (row values)."""
    return masked(str(exc)) or type(exc).__name__


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


def _read_parquet(con: duckdb.DuckDBPyConnection, file: LandingFile, header: Sequence[str],
                  names: Sequence[str], rejects: str) -> None:
    # Columns by position (t(p1, p2, ...)), whatever the file calls them; the row order made a
    # column by row_number() OVER (), which DuckDB guarantees to follow the file's order.
    positions = ", ".join(f"p{i}" for i in range(1, len(header) + 1))
    source = f"read_parquet({lit(str(file.path))}) AS t({positions})"
    types = [row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    select = ", ".join(f"{_parquet_text(file, i, kind, h)} AS {q(n)}"
                       for i, (n, h, kind) in enumerate(zip(names, header, types, strict=True), 1))
    con.execute(f"CREATE TEMP TABLE _incoming_lined AS SELECT {select}, 0 AS _file, "
                f"row_number() OVER () + 1 AS line_number FROM {source}")
    con.execute("CREATE TEMP VIEW _incoming AS SELECT * FROM _incoming_lined")
    con.execute(f"CREATE TEMP TABLE {rejects} ({_REJECT_COLUMNS})")


def _read_csv(con: duckdb.DuckDBPyConnection, files: Sequence[LandingFile], header: Sequence[str],
              names: Sequence[str], rejects: str) -> None:
    scans = f"{rejects}_scans"
    con.execute("CREATE TEMP TABLE _files (_file INTEGER, path VARCHAR)")
    con.executemany("INSERT INTO _files VALUES (?, ?)", [[i, str(f.path)] for i, f in enumerate(files)])
    paths = "[" + ", ".join(lit(str(f.path)) for f in files) + "]"
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
    con.execute(
        f"CREATE TEMP TABLE _incoming_raw AS SELECT * FROM read_csv({paths}, columns={columns}, "
        "header=true, auto_detect=false, delim=',', quote='\"', escape='\"', filename='_path', "
        f"store_rejects=true, rejects_table='{rejects}_all', rejects_scan='{scans}')"
    )
    # DuckDB's rejects name the load's columns: the delivered names go back in (raw.malformed_lines).
    renamed = " ".join(f"WHEN {lit(n)} THEN {lit(h)}" for n, h in zip(names, header, strict=True) if n != h)
    delivered = f"CASE e.column_name {renamed} ELSE e.column_name END" if renamed else "e.column_name"
    # DuckDB logs one error per missing column; a malformed line is one record, so fold them.
    con.execute(
        f"""CREATE TEMP TABLE {rejects} AS
        SELECT f._file, e.line, string_agg(DISTINCT e.error_type, '; ' ORDER BY e.error_type) AS error_type,
               string_agg({delivered}, ', ' ORDER BY e.column_idx) AS column_name,
               min(e.error_message) AS error_message, min(e.csv_line) AS csv_line,
               min({delivered}) FILTER (e.error_type = 'UNQUOTED VALUE') AS quote_column
        FROM {rejects}_all e JOIN {scans} s USING (scan_id, file_id) JOIN _files f ON f.path = s.file_path
        GROUP BY f._file, e.line"""
    )
    con.execute(f"DROP TABLE {rejects}_all")
    con.execute(f"DROP TABLE {scans}")
    # Each file's rows are contiguous in insertion order (= file order); a file's row k is
    # record k + 1, the header being record 1. The common case, no malformed record, is a view:
    # copying and sorting every row to number it cost twice the read itself.
    con.execute("CREATE TEMP TABLE _firsts AS SELECT f._file, min(r.rowid) AS first, max(r.rowid) AS last, "
                "count(*) AS n FROM _incoming_raw r JOIN _files f ON f.path = r._path "
                "GROUP BY f._file, r._path")
    scattered = con.execute("SELECT count(*) FROM _firsts WHERE last - first + 1 <> n").fetchone()
    if scattered and scattered[0]:
        # DuckDB keeps a multi-file scan's rows in file order; should it not, the files are read one
        # by one (the caller's fallback) rather than numbered wrongly.
        raise InterleavedRead("the rows of the files read together are not in file order")
    numbered = ("SELECT r.* EXCLUDE (_path), f._file, r.rowid - f.first + 1 AS k FROM _incoming_raw r "
                "JOIN _files p ON p.path = r._path JOIN _firsts f ON f._file = p._file")
    if not con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0]:  # type: ignore[index]
        con.execute(f"CREATE TEMP VIEW _incoming AS SELECT * EXCLUDE (k), k + 1 AS line_number "
                    f"FROM ({numbered})")
        return
    # With malformed records, accepted row k sits at record k + 1 plus the malformed records
    # before it: t_j = line_j - 1 - j rows are accepted before a file's j-th reject. Adjacent
    # rejects share a t_j; the last of them counts (ASOF would pick any one of a tie).
    con.execute(
        f"""CREATE TEMP TABLE _incoming_lined AS
        WITH n AS (SELECT _file, line, row_number() OVER (PARTITION BY _file ORDER BY line) AS j
                   FROM {rejects}),
             t AS (SELECT _file, line - 1 - j AS before, max(j) AS j FROM n GROUP BY _file, before),
             r AS ({numbered})
        SELECT r.* EXCLUDE (k), r.k + 1 + coalesce(t.j, 0) AS line_number
        FROM r ASOF LEFT JOIN t ON r._file = t._file AND r.k > t.before
        ORDER BY r._file, r.k"""
    )
    con.execute("CREATE TEMP VIEW _incoming AS SELECT * FROM _incoming_lined")


def read_files(con: duckdb.DuckDBPyConnection, files: Sequence[LandingFile], header: Sequence[str],
               names: Sequence[str]) -> str:
    """Read `files` (one export, one header; Parquet: one file) into the temp view _incoming;
    returns the rejects table. Raises duckdb.Error when the reader gives up on a file and
    FileRejected for a Parquet file that cannot be turned into text."""
    rejects = f"_rejects_{next(_scan_ids)}"
    drop_temps(con, None)
    try:
        if files[0].is_parquet:
            if len(files) != 1:
                raise ValueError("a Parquet file is read alone")
            _read_parquet(con, files[0], header, names, rejects)
        else:
            _read_csv(con, files, header, names, rejects)
    except BaseException:  # nothing of a failed read stays behind on the connection
        drop_temps(con, rejects)
        for table in (f"{rejects}_all", f"{rejects}_scans"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        raise
    return rejects


def unreadable(file: LandingFile, exc: duckdb.Error) -> FileRejected:
    """The rejection for a file DuckDB's reader gave up on, naming the line when it can be found."""
    text = describe_error(exc).replace(str(file.path), file.path.name)
    if "state machine reached an invalid state" in text:
        where = line_ending_problem(file.path)
        if where:
            return FileRejected(f"{file.path.name}: {where}; file rejected (the reader cannot split it into "
                                "records)")
    return FileRejected(f"{file.path.name}: cannot be read: {text}")


def runaway_quotes(con: duckdb.DuckDBPyConnection, files: Sequence[LandingFile],
                   rejects: str) -> dict[int, str]:
    """Per file (by position), the rejection when a malformed record's quote runs on over the
    lines after it.

    An opening quote that is not closed on its own line swallows every following line up to
    the next quote (or the end of the file) into one field: those lines are neither rows nor
    malformed lines of their own, so the file's record count, and every count derived from
    it, would silently shrink. A broken quote on the last line (or closed on its own line)
    stays an ordinary malformed line.
    """
    found = con.execute(
        f"""SELECT _file, arg_min(line, line), arg_min(quote_column, line), arg_min(more, line) FROM (
            SELECT _file, line, quote_column, len(regexp_split_to_array(body, '\\r\\n|\\r|\\n')) - 1 AS more
            FROM (SELECT _file, line, quote_column, trim(csv_line, chr(13) || chr(10)) AS body
                  FROM {rejects}))
        WHERE quote_column IS NOT NULL AND more > 0 GROUP BY _file"""
    ).fetchall()
    return {index: (f"{files[index].path.name}: line {line}, column {column!r}: a quote opened here is not "
                    f"closed on its line and runs over the next {more} line(s), so they cannot be told apart "
                    "as records; file rejected")
            for index, line, column, more in found}


def drop_temps(con: duckdb.DuckDBPyConnection, rejects: str | None) -> None:
    """Drop what `read_files` made (temporary: they never reach the warehouse file)."""
    con.execute("DROP VIEW IF EXISTS _incoming")
    for table in ("_incoming_lined", "_incoming_raw", "_firsts", "_files", rejects):
        if table:
            con.execute(f"DROP TABLE IF EXISTS {table}")
