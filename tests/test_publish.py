"""The published warehouse: built by a real run, read-only, swapped atomically under a reading process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.publish import warehouse
from pipelines.publish.build_record import BuildRecord
from pipelines.publish.warehouse import PUBLISHED_NAME, publish
from pipelines.settings import Settings
from pipelines.writer_lock import LOCK_NAME
from tests.conftest import TinyBuild, start_from

READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    query = "SELECT build_id, (SELECT count(*) FROM marts.response_rates) FROM meta.build"
    print(*con.execute(query).fetchone(), flush=True)
    sys.stdin.readline()  # hold the file open until told to read again
    print(*con.execute(query).fetchone(), flush=True)
""")


def build_id(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT build_id FROM meta.build").fetchone()[0]


@pytest.fixture
def built(settings: Settings, landing: Path, tiny_build: TinyBuild) -> Settings:
    """A warehouse as `outcomes run` leaves it: a copy of the shared tiny build."""
    start_from(tiny_build, settings)
    return settings


def test_run_publishes_a_read_only_copy_with_the_marts(built: Settings) -> None:
    published = built.warehouse / PUBLISHED_NAME
    with duckdb.connect(str(published), read_only=True) as con:
        tables = {f"{s}.{t}" for s, t in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
        assert {"marts.response_rates", "marts.adverse_events", "data_quality.file_accounting",
                "data_quality.quarantine_reasons", "meta.build", "reference.outcome_measures"} <= tables
        assert not any(t.startswith(("raw.", "staging.", "quarantine.")) for t in tables)
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE TABLE marts.scratch (x INTEGER)")
    assert not list(built.warehouse.glob(".*.tmp"))


def _record() -> BuildRecord:
    """A new build of the same file (a build id of its own, like every publish)."""
    return BuildRecord(str(uuid.uuid4()), datetime.now(UTC).replace(tzinfo=None), "test-run", ["2025-01"],
                       False, None)


def test_a_reader_keeps_its_snapshot_while_a_new_build_is_swapped_in(built: Settings) -> None:
    published = built.warehouse / PUBLISHED_NAME
    reader = subprocess.Popen([sys.executable, "-c", READER, str(published)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        before = reader.stdout.readline().split()
        new = publish(built.build_db, built.warehouse, _record())
        reader.stdin.write("\n")
        reader.stdin.flush()
        after = reader.stdout.readline().split()
    finally:
        reader.communicate(timeout=60)
    assert before == after  # same build id and row count: the old snapshot, unharmed
    assert new.build_id != before[0]
    assert build_id(published) == new.build_id  # a new reader sees the new build


def test_a_failed_publish_leaves_the_previous_file_intact(built: Settings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    published = built.warehouse / PUBLISHED_NAME
    previous = build_id(published)
    real_tables = warehouse.tables_of

    def a_table_vanishes(con: duckdb.DuckDBPyConnection, schema: str,
                         database: str | None = None) -> list[str]:
        """The copy fails half way: the last schema lists a table the build does not have."""
        missing = ["no_such_table"] if schema == warehouse.COPIED_SCHEMAS[-1] else []
        return [*real_tables(con, schema, database), *missing]

    monkeypatch.setattr(warehouse, "tables_of", a_table_vanishes)
    with pytest.raises(duckdb.Error):
        publish(built.build_db, built.warehouse, _record())
    assert build_id(published) == previous
    files = sorted(p.name for p in built.warehouse.iterdir() if p.is_file() and p.name != LOCK_NAME)
    assert files == ["build.duckdb", PUBLISHED_NAME]
