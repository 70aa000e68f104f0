"""Small SQL helpers: every DuckDB connection the pipeline opens, quoting identifiers, string literals
and lists of them; asking for a table; one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.settings import memory_limit

SPILL_FOLDER = ".spill"  # beside the database file: inside the warehouse (or a reproduction's) folder


def connection_config(database: str | Path) -> dict[str, str]:
    """The settings of every connection to `database` (issue #19, item 4): a memory cap, and a spill
    folder inside the database's own folder, so a large sort or join spills there rather than
    growing the process or filling the system's temporary folder. One dict for every connection:
    DuckDB refuses a second connection to an open file with other settings."""
    spill = Path(database).resolve().parent / SPILL_FOLDER
    return {"memory_limit": memory_limit(), "temp_directory": str(spill)}


def connect(database: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to a DuckDB file with the pipeline's memory cap and spill folder."""
    return duckdb.connect(str(database), read_only=read_only, config=connection_config(database))


def connect_in_memory(near: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the same cap, spilling beside the file `near`: for a connection
    that ATTACHes the files it writes (publish writes in another storage format that way)."""
    return duckdb.connect(":memory:", config=connection_config(near))


def storage_version_known(version: str) -> bool:
    """Whether this DuckDB can write files in the storage format of DuckDB release `version`
    ('v1.0.0', ..., or 'latest'): it is asked, with a database that is never written."""
    with duckdb.connect(":memory:", config={"memory_limit": "64MB"}) as probe:
        try:
            probe.execute(f"ATTACH ':memory:' AS probe (STORAGE_VERSION '{version.replace(chr(39), '')}')")
        except duckdb.Error:
            return False
    return True


def q(name: str) -> str:
    """Quote an identifier (a column or table name)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """Quote a string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: Iterable[str]) -> str:
    """A parenthesised list of string literals, for IN (...)."""
    return "(" + ", ".join(lit(v) for v in values) + ")"


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, database: str | None = None) -> bool:
    """Whether the connection's own database (or the attached `database`) has `schema.table` (a table
    or a view)."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = "
        "coalesce(?::VARCHAR, current_database()) AND table_schema = ? AND table_name = ?",
        [database, schema, table]).fetchone()
    return bool(found and found[0])


def tables_of(con: duckdb.DuckDBPyConnection, schema: str, database: str | None = None) -> list[str]:
    """The tables of `schema` in the connection's own database (or the attached `database`), by name."""
    found = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? "
        "AND database_name = coalesce(?::VARCHAR, current_database()) ORDER BY table_name",
        [schema, database]).fetchall()
    return [name for (name,) in found]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT; on a DuckDB error, ROLLBACK and the error raised again: all or nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
