"""The staging lake: each export's validated rows as Hive-partitioned Parquet, the hand-off that
dbt reads on either engine.

    <warehouse>/lake/staging/<export>/month=YYYY-MM/data.parquet

holds the rows of staging.<export> whose export_month is that month (every column, lineage
included). DuckDB reads the folders with read_parquet(hive_partitioning) (dbt/models/sources.yml),
Spark through views over the same folders (dbt/macros/lake_sources.sql): one copy of the data,
one reader per engine, no engine-specific export. The staging tables in the build file stay the
validate stage's working state (orphans are judged against them across months); the lake
follows them.

A partition is replaced atomically: the new files are written in one pass into a hidden
folder beside the exports, which neither engine reads, and each is renamed over its
data.parquet. A month with no staged rows has no partition; an export with no staged row at all
has one empty file under month=none, so that readers find its columns. Which partitions to
write is told by the rows, not by the run: each month's rows are counted and hashed (the same
fingerprint the refresh plan uses) and compared with the fingerprint recorded when its
partition was written (staging.lake_partitions). A run that stopped between the build file and
the lake, a partition deleted by hand, or a warehouse made before the lake existed are all
repaired by the next validate step.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.sql import has_table, q, transaction

LAKE_FOLDER = "lake"
PARTITION_COLUMN = "month"  # the Hive partition key: the rows' export_month
PARTITION_FILE = "data.parquet"
RECORD = "staging.lake_partitions"  # what was written: export, month, rows, hash
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# An export without any staged row keeps one empty file here, so that its readers find a file with
# its columns (DuckDB's read_parquet fails on a pattern that matches nothing) and read no row.
NO_ROWS = "none"

# export_month -> (rows, the sum of the rows' 64-bit hashes): order-free, so a re-staged month with
# the same rows in another order keeps its partition
MonthFingerprints = dict[str, tuple[int, str]]


@dataclass(frozen=True)
class LakeSync:
    """Partitions one sync wrote and removed, by month."""

    written: list[str]
    removed: list[str]


def staging_lake(warehouse: Path) -> Path:
    """The lake's staging folder of a warehouse: one folder per export below it."""
    return Path(warehouse) / LAKE_FOLDER / "staging"


def partition_path(warehouse: Path, export: str, month: str) -> Path:
    return staging_lake(warehouse) / export / f"{PARTITION_COLUMN}={month}" / PARTITION_FILE


def month_fingerprints(con: duckdb.DuckDBPyConnection, export: str) -> MonthFingerprints:
    """Rows and their hash per export month of staging.<export> (empty when the table does not exist)."""
    if not has_table(con, "staging", export):
        return {}
    return {month: (rows, digest) for month, rows, digest in con.execute(
        "SELECT export_month, count(*), sum(hash(staged))::VARCHAR "
        f"FROM staging.{q(export)} AS staged GROUP BY export_month").fetchall()}


def _ensure_record(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {RECORD} (
        export VARCHAR NOT NULL, export_month VARCHAR NOT NULL, n_rows BIGINT NOT NULL,
        rows_hash VARCHAR NOT NULL, written_at TIMESTAMP NOT NULL)""")


def _on_disk(warehouse: Path, export: str) -> set[str]:
    folder = staging_lake(warehouse) / export
    prefix = f"{PARTITION_COLUMN}="
    return {part.name.removeprefix(prefix) for part in folder.glob(f"{prefix}*")
            if (part / PARTITION_FILE).is_file()} - {NO_ROWS}


def _write_partitions(con: duckdb.DuckDBPyConnection, warehouse: Path, export: str,
                      months: list[str]) -> None:
    """Write the months' partitions in one pass over staging.<export> (DuckDB's partitioned COPY
    into a hidden folder beside the exports), then rename each file over its partition's."""
    if not months:
        return
    bad = [m for m in months if not MONTH.match(m) and m != NO_ROWS]
    if bad:  # they become paths, and part of the SQL below
        raise ValueError(f"not a month: {bad[0]!r}")
    # A folder of this export left by a killed run goes first: runs take turns (the writer lock).
    for left in staging_lake(warehouse).glob(f".incoming-{export}-*"):
        shutil.rmtree(left, ignore_errors=True)
    incoming = staging_lake(warehouse) / f".incoming-{export}-{os.getpid()}"
    incoming.mkdir(parents=True)
    try:
        if months == [NO_ROWS]:  # the columns alone: no row to partition
            (incoming / f"{PARTITION_COLUMN}={NO_ROWS}").mkdir()
            con.execute(f"COPY (SELECT * FROM staging.{q(export)} WHERE false) TO "
                        f"'{incoming}/{PARTITION_COLUMN}={NO_ROWS}/data_0.parquet' (FORMAT parquet)")
        else:
            listed = ", ".join(f"'{m}'" for m in months)
            con.execute(
                f"COPY (SELECT *, export_month AS {PARTITION_COLUMN} FROM staging.{q(export)} "
                f"WHERE export_month IN ({listed})) TO '{incoming}' (FORMAT parquet, COMPRESSION zstd, "
                f"PARTITION_BY ({PARTITION_COLUMN}), FILENAME_PATTERN 'data_{{i}}')")
        for month in months:
            written = sorted((incoming / f"{PARTITION_COLUMN}={month}").glob("*.parquet"))
            if len(written) != 1:
                raise RuntimeError(f"lake: expected one Parquet file for {export} {month}, DuckDB wrote "
                                   f"{len(written)}")
            target = partition_path(warehouse, export, month)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(written[0], target)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _remove_partition(warehouse: Path, export: str, month: str) -> None:
    shutil.rmtree(partition_path(warehouse, export, month).parent, ignore_errors=True)


def sync_lake(con: duckdb.DuckDBPyConnection, warehouse: Path, export: str) -> LakeSync:
    """Make the lake's partitions of `export` hold exactly the rows of staging.<export>.

    Writes the months whose rows differ from what their partition was written from (or whose file
    is missing), removes partitions of months without staged rows, then records what it wrote.
    The record is written last: a sync that stops midway is finished by the next one.
    """
    _ensure_record(con)
    staged = month_fingerprints(con, export)
    recorded: MonthFingerprints = {month: (rows, digest) for month, rows, digest in con.execute(
        f"SELECT export_month, n_rows, rows_hash FROM {RECORD} WHERE export = ?", [export]).fetchall()}
    on_disk = _on_disk(warehouse, export)
    written = sorted(m for m, fingerprint in staged.items()
                     if recorded.get(m) != fingerprint or m not in on_disk)
    removed = sorted((on_disk | recorded.keys()) - staged.keys())
    _write_partitions(con, warehouse, export, written)
    for month in removed:
        _remove_partition(warehouse, export, month)
    empty = partition_path(warehouse, export, NO_ROWS)
    if staged:
        _remove_partition(warehouse, export, NO_ROWS)
    elif not empty.exists() and has_table(con, "staging", export):
        _write_partitions(con, warehouse, export, [NO_ROWS])
    changed = written + removed
    if changed:
        with transaction(con):
            con.execute(f"DELETE FROM {RECORD} WHERE export = ? AND export_month IN (SELECT unnest(?))",
                        [export, changed])
            if written:
                con.executemany(f"INSERT INTO {RECORD} VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
                                [[export, m, *staged[m]] for m in written])
    return LakeSync(written, removed)
