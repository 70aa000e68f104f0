"""Compare two published files cell by cell: python -m tests.compare_published BEFORE AFTER.

Every table outside `meta` must exist in both with the same columns and the same rows (as a
multiset). Doubles are compared to 10 decimals (DuckDB's parallel aggregates, stddev for one,
can differ in the last bits between two runs of the same build) and the data_quality
timestamps (when a file was recorded or counted) are left out. Used to show that a refactor
changed no published number (issue #11).
"""

from __future__ import annotations

import sys

import duckdb


def differences(before: str, after: str) -> list[str]:
    """One line per table that differs; empty when the two files publish the same cells."""
    con = duckdb.connect()
    con.execute("ATTACH ? AS a (READ_ONLY)", [before])
    con.execute("ATTACH ? AS b (READ_ONLY)", [after])

    def tables(db: str) -> set[tuple[str, str]]:
        return set(con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                               "WHERE database_name = ? AND schema_name <> 'meta'", [db]).fetchall())

    def columns(db: str, schema: str, table: str) -> list[tuple[str, str]]:
        return con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
                           "AND schema_name = ? AND table_name = ? ORDER BY column_index",
                           [db, schema, table]).fetchall()

    found, ta, tb = [], tables("a"), tables("b")
    found += [f"{s}.{t}: only in {before}" for s, t in sorted(ta - tb)]
    found += [f"{s}.{t}: only in {after}" for s, t in sorted(tb - ta)]
    for schema, table in sorted(ta & tb):
        ca, cb = columns("a", schema, table), columns("b", schema, table)
        if ca != cb:
            found.append(f"{schema}.{table}: columns differ: {ca} != {cb}")
            continue
        kept = ", ".join(f'round("{c}", 10)' if kind == "DOUBLE" else f'"{c}"' for c, kind in ca
                         if not (schema == "data_quality" and kind.startswith("TIMESTAMP")))
        only_a, only_b = con.execute(
            f'SELECT (SELECT count(*) FROM (SELECT {kept} FROM a.{schema}."{table}" EXCEPT ALL '
            f'SELECT {kept} FROM b.{schema}."{table}")), (SELECT count(*) FROM (SELECT {kept} FROM '
            f'b.{schema}."{table}" EXCEPT ALL SELECT {kept} FROM a.{schema}."{table}"))').fetchone()
        if only_a or only_b:
            found.append(f"{schema}.{table}: {only_a} rows only before, {only_b} only after")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.compare_published BEFORE.duckdb AFTER.duckdb")
        return 2
    found = differences(*argv)
    print("\n".join(found) or "the same cells in every published table")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
