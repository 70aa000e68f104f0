"""Load landing files into their raw DuckDB tables, as text, with lineage columns.

The steps, set-based in DuckDB, once for all of an export's files in a run:
1. sha256 of each file's bytes (in threads): a version already seen is a no-op (identical
   re-delivery);
2. each header: PHI-looking columns or a missing required column reject the file whole;
3. the rows of every file left, in one `read_csv` over the list (read.py), into a temporary
   table (never the warehouse file) with DuckDB's reader told the columns, malformed lines
   going to a rejects table instead of failing the read;
4. one scan of every text value for PHI and for ids off the network's shape
   (pipelines/ingest/phi.py, id_shapes.py), grouped by file, the malformed lines likewise, then
   per file whether the delivery is whole (a sidecar manifest, the last line, the record count
   against earlier versions: completeness.py): each rejects its file whole, not the others;
5. in one transaction for all accepted files: each month's rows in raw.<export> replaced (the
   rows they replace move to raw.<export>_superseded, kept for reproducing past builds),
   malformed lines kept in raw.malformed_lines (likewise), each version recorded in
   raw.file_versions.
A month an operator retracted (`outcomes retract`) stays out while the retracted file sits in
landing untouched: delivering a file again (other bytes, or the same bytes written anew)
undoes the retraction.
A failure at any step leaves the previous state of the months untouched. When DuckDB's reader
gives up on the list, each file is read alone, so the rejection names the file at fault.

Raw tables keep every contract column as VARCHAR so that one bad value never fails a
file; typing and rule checks happen in the validate stage.

`line_number` is the record number with the header as 1: the physical line, unless a
quoted field spans lines (DuckDB's rejects table counts records the same way).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from pipelines import contract
from pipelines.files import sha256_of
from pipelines.ingest.completeness import Manifest, check_complete, check_manifest_digest, read_manifest
from pipelines.ingest.discover import LandingFile, header_place
from pipelines.ingest.header import FileRejected, read_header
from pipelines.ingest.id_shapes import off_shape, shape_problem
from pipelines.ingest.phi import PhiRejected, findings_of, scan_header, value_scan_sql
from pipelines.ingest.read import describe_error, drop_temps, read_files, runaway_quotes, unreadable
from pipelines.ingest.tables import ensure_ingest_tables
from pipelines.settings import id_patterns
from pipelines.sql import q, transaction

# Files read in one scan: up to this many bytes (the temporary table spills to disk beyond the
# memory limit; a bounded group keeps it in memory on the large network's months).
GROUP_BYTES = 256 * 1024 * 1024


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

    The load adds lineage (`line_number`) and helper columns (`_file`, `_path`, `k`, DuckDB's
    `rowid`) of its own, and DuckDB's names are case-insensitive: a delivered column named
    `line_number`, `_file`, `rowid`, `k` or `SESSION_ID` must neither replace them nor collide
    with them (issue #13). Unknown
    columns are ignored whatever their names; only their contents are scanned for PHI.
    """
    known = set(contract.export(export).column_names)
    return [name if name in known else f"_extra_{position}" for position, name in enumerate(header, 1)]


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


def _before_reading(con: duckdb.DuckDBPyConnection, file: LandingFile, digest: str, now: datetime,
                    synthetic: bool) -> LoadResult | _Candidate:
    """What can be decided without reading the rows: unchanged, retracted, or rejected by its
    manifest or header; otherwise the file goes on to be read, as a _Candidate."""
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
    except (FileRejected, PhiRejected) as exc:
        return _rejected(con, file, digest, now, str(exc), drift, synthetic)
    return _Candidate(file, digest, manifest, tuple(header), drift)


@dataclass(frozen=True)
class _Candidate:
    """A file whose rows are to be read: its header passed."""

    file: LandingFile
    digest: str
    manifest: Manifest | None
    header: tuple[str, ...]
    drift: tuple[str, ...]


def _rejected(con: duckdb.DuckDBPyConnection, file: LandingFile, digest: str, now: datetime, reason: str,
              drift: tuple[str, ...], synthetic: bool) -> LoadResult:
    result = LoadResult(file.export, file.month, file.path.name, digest, "rejected", reason=reason,
                        drift=drift)
    _record_version(con, file, digest, now, result, synthetic)
    return result


def _groups(candidates: Sequence[_Candidate]) -> Iterator[list[_Candidate]]:
    """Candidates read together: CSV files with the same header and compression, in order, up to
    GROUP_BYTES a group; a Parquet file alone."""
    group: list[_Candidate] = []
    size = 0
    for candidate in candidates:
        path = candidate.file.path
        same = group and not path.name.endswith(".parquet") and group[0].header == candidate.header \
            and group[0].file.path.suffix == path.suffix and size + path.stat().st_size <= GROUP_BYTES
        if group and not same:
            yield group
            group, size = [], 0
        group.append(candidate)
        size += path.stat().st_size
        if path.name.endswith(".parquet"):
            yield group
            group, size = [], 0
    if group:
        yield group


def _scan(con: duckdb.DuckDBPyConnection, group: Sequence[_Candidate], names: Sequence[str],
          rejects: str, patterns: Mapping[str, str]) -> dict[int, Exception]:
    """One pass over every value of the group: PHI-looking values and ids off their shape, per
    file; then the malformed lines for PHI. Returns the rejection of each file that has one."""
    first = group[0]
    header = first.header
    ids = {i: patterns[c] for i, c in enumerate(header) if c in patterns}
    sql, slots = value_scan_sql(first.file.path.name, "_incoming", header, names, group="_file",
                                extra={i: (lambda ref, p=p: off_shape(ref, p)) for i, p in ids.items()})
    problems: dict[int, Exception] = {}
    for row in con.execute(sql).fetchall():
        index, counts = row[0], row[1:]
        file_name = group[index].file.path.name
        findings = findings_of(file_name, header, slots, counts)
        if findings:
            problems[index] = PhiRejected(findings)
            continue
        off = [shape_problem(file_name, header[column], ids[column], counts[2 * n], counts[2 * n + 1])
               for n, (column, kind) in enumerate(slots) if kind == "extra" and counts[2 * n]]
        if off:
            problems[index] = FileRejected("\n".join(off))
    if con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0]:  # type: ignore[index]
        sql, slots = value_scan_sql(first.file.path.name, f"(SELECT _file, csv_line, line AS line_number "
                                    f"FROM {rejects})", ["csv_line"], group="_file")
        for index, *counts in con.execute(sql).fetchall():
            findings = findings_of(group[index].file.path.name, ["csv_line"], slots, counts)
            if findings:
                earlier = problems.get(index)
                if isinstance(earlier, PhiRejected):
                    findings = earlier.findings + findings
                problems[index] = PhiRejected(findings)
    return problems


def _load_group(con: duckdb.DuckDBPyConnection, group: Sequence[_Candidate], patterns: Mapping[str, str],
                now: datetime, synthetic: bool) -> list[LoadResult]:
    """Read, scan and load a group of candidates of one export in one pass (see the module docstring)."""
    export = group[0].file.export
    header = group[0].header
    names = load_names(export, header)
    rejects: str | None = None
    try:
        rejects = read_files(con, [c.file for c in group], header, names)
    except duckdb.Error as exc:
        drop_temps(con, rejects)
        if len(group) > 1:  # read each alone: the rejection names the file DuckDB gave up on
            return [result for candidate in group
                    for result in _load_group(con, [candidate], patterns, now, synthetic)]
        c = group[0]
        return [_rejected(con, c.file, c.digest, now, str(unreadable(c.file, exc)), c.drift, synthetic)]
    except FileRejected as exc:  # a Parquet file's types
        drop_temps(con, rejects)
        c = group[0]
        return [_rejected(con, c.file, c.digest, now, str(exc), c.drift, synthetic)]
    try:
        problems = _scan(con, group, names, rejects, patterns)
        for index, reason in runaway_quotes(con, [c.file for c in group], rejects).items():
            problems.setdefault(index, FileRejected(reason))
        counts = dict(con.execute("SELECT _file, count(*) FROM _incoming GROUP BY _file").fetchall())
        bad = dict(con.execute(f"SELECT _file, count(*) FROM {rejects} GROUP BY _file").fetchall())
        results: list[LoadResult] = []
        accepted: dict[str, int] = {}  # month -> records of the group's files accepted so far
        for index, c in enumerate(group):
            records, malformed = int(counts.get(index, 0)) + int(bad.get(index, 0)), int(bad.get(index, 0))
            problem = problems.get(index)
            if problem is None:
                try:
                    check_complete(con, c.file, records, c.manifest, accepted)
                except FileRejected as exc:
                    problem = exc
            if problem is not None:
                results.append(_rejected(con, c.file, c.digest, now, str(problem), c.drift, synthetic))
                continue
            accepted[c.file.month] = records
            results.append(LoadResult(export, c.file.month, c.file.path.name, c.digest, "loaded", records,
                                      malformed, drift=c.drift))
        loaded = [(index, c) for index, (c, r) in enumerate(zip(group, results, strict=True))
                  if r.status == "loaded"]
        if loaded:
            _insert(con, export, header, rejects, loaded, results, now, synthetic)
    finally:
        drop_temps(con, rejects)
    return results


def _insert(con: duckdb.DuckDBPyConnection, export: str, header: Sequence[str], rejects: str,
            loaded: Sequence[tuple[int, _Candidate]], results: Sequence[LoadResult], now: datetime,
            synthetic: bool) -> None:
    """In one transaction: the loaded files' months replaced in raw, their malformed lines kept,
    their versions recorded."""
    exp = contract.export(export)
    select = ", ".join(f"i.{q(c)}" if c in header else f"NULL::VARCHAR AS {q(c)}" for c in exp.column_names)
    con.execute("DROP TABLE IF EXISTS _loaded")
    con.execute("CREATE TEMP TABLE _loaded (_file INTEGER, export_month VARCHAR, source_file VARCHAR, "
                "file_sha256 VARCHAR)")
    con.executemany("INSERT INTO _loaded VALUES (?, ?, ?, ?)",
                    [[index, c.file.month, c.file.path.name, c.digest] for index, c in loaded])
    try:
        with transaction(con):
            for _, c in loaded:
                supersede(con, export, c.file.month, c.digest, now, "re-delivery")
            con.execute(
                f"INSERT INTO raw.{export} SELECT {select}, l.export_month, l.source_file, l.file_sha256, "
                "i.line_number, $now FROM _incoming i JOIN _loaded l USING (_file)", {"now": now})
            con.execute(
                "INSERT INTO raw.malformed_lines SELECT $export, l.export_month, l.source_file, "
                "l.file_sha256, r.line, r.error_type, r.column_name, r.error_message, r.csv_line, $now "
                f"FROM {rejects} r JOIN _loaded l USING (_file)", {"export": export, "now": now})
            for index, c in loaded:
                _record_version(con, c.file, c.digest, now, results[index], synthetic)
    except duckdb.Error as exc:  # rolled back: the months as they were
        names = ", ".join(c.file.path.name for _, c in loaded)
        raise RuntimeError(f"{names}: load failed, previous state kept: {describe_error(exc)}") from None
    finally:
        con.execute("DROP TABLE IF EXISTS _loaded")


def load_files(con: duckdb.DuckDBPyConnection, files: Sequence[LandingFile],
               patterns: Mapping[str, str] | None = None, synthetic: bool = False) -> list[LoadResult]:
    """Load (or skip, or reject) each of `files`, one export's, in month order; see the module
    docstring for the steps. Returns one result per file, in the order of `files`.

    `patterns`: the id columns' shapes (settings.id_patterns(), read once by the caller for all
    its files); read here when not given. `synthetic`: the landing folder holds generated exports
    (recorded with the version, so a build holding it is marked synthetic).
    """
    if not files:
        return []
    ensure_ingest_tables(con)
    patterns = id_patterns() if patterns is None else patterns
    with ThreadPoolExecutor(max_workers=2) as pool:  # hashlib releases the GIL on large blocks
        digests = list(pool.map(lambda f: sha256_of(f.path), files))
    now = datetime.now(UTC).replace(tzinfo=None)
    decided: dict[LandingFile, LoadResult] = {}
    candidates: list[_Candidate] = []
    for file, digest in zip(files, digests, strict=True):
        early = _before_reading(con, file, digest, now, synthetic)
        if isinstance(early, LoadResult):
            decided[file] = early
        else:
            candidates.append(early)
    for group in _groups(candidates):
        for candidate, result in zip(group, _load_group(con, group, patterns, now, synthetic), strict=True):
            decided[candidate.file] = result
    return [decided[file] for file in files]


def load_file(con: duckdb.DuckDBPyConnection, file: LandingFile,
              patterns: Mapping[str, str] | None = None, synthetic: bool = False) -> LoadResult:
    """`load_files` for one file."""
    return load_files(con, [file], patterns, synthetic)[0]
