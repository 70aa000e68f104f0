"""Small SQL helpers: quoting identifiers, string literals and lists of them; asking for a table;
one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import duckdb


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
