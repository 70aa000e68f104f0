"""History: a past build reproduced from the kept file versions, a retraction and its undo, rows
orphaned by a correction held for their own reason and counted (issue #15, items 1-3)."""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.publish.warehouse import PUBLISHED_NAME
from pipelines.settings import Settings
from tests.compare_published import differences
from tests.conftest import TinyBuild, start_from


def _build(settings: Settings) -> dict[str, object]:
    with duckdb.connect(str(settings.warehouse / PUBLISHED_NAME), read_only=True) as con:
        cursor = con.execute("SELECT * FROM meta.build")
        return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def _published(settings: Settings, sql: str, params: list[object] | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse / PUBLISHED_NAME), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _drop_a_session_with_vitals(landing: Path, month: str) -> tuple[str, int]:
    """Re-send the month's sessions file without one session that has vitals: (its id, its vitals rows)."""
    with (landing / "vitals" / f"vitals_{month}.csv").open(newline="") as handle:
        vitals = [row["session_id"] for row in csv.DictReader(handle)]
    path = landing / "sessions" / f"sessions_{month}.csv"
    lines = path.read_text().splitlines(keepends=True)
    victim = next(line for line in lines[1:] if line.split(",")[0] in vitals)
    session_id = victim.split(",")[0]
    path.write_text("".join(line for line in lines if line is not victim))
    return session_id, vitals.count(session_id)


def _first_build(settings: Settings, tiny_build: TinyBuild, tmp_path: Path) -> Path:
    """The first build (`outcomes run` of these exports: the shared one, copied); a copy of its
    published file, to compare later builds with."""
    start_from(tiny_build, settings)
    first = tmp_path / "first.duckdb"
    shutil.copy(settings.warehouse / PUBLISHED_NAME, first)
    return first


def test_a_past_build_is_reproduced_cell_by_cell_after_a_correction(
        settings: Settings, landing: Path, tiny_build: TinyBuild, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    first = _first_build(settings, tiny_build, tmp_path)
    first_id = _build(settings)["build_id"]
    assert _build(settings)["months"] == ["2025-01", "2025-02", "2025-03"]
    held_versions = _published(settings, "SELECT count(*), count(DISTINCT file_sha256) "
                               "FROM meta.build_file_versions")
    assert held_versions == [(9, 9)]  # 3 exports x 3 months, one version each

    # The clinic re-sends February's sessions without one session (a correction)
    session_id, n_vitals = _drop_a_session_with_vitals(landing, "2025-02")
    capsys.readouterr()
    assert main(["run", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"held by a correction: vitals 2025-02: {n_vitals:,} rows" in out
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        kept = con.execute("SELECT count(*), count(DISTINCT file_sha256), min(superseded_by) FROM "
                           "raw.sessions_superseded WHERE export_month = '2025-02'").fetchone()
        current = con.execute("SELECT count(*) FROM raw.sessions "
                              "WHERE export_month = '2025-02'").fetchone()[0]
        reasons = con.execute("SELECT reasons, held FROM quarantine.vitals WHERE trim(session_id) = ?",
                              [session_id]).fetchall()
    assert kept[0] == current + 1 and kept[1:] == (1, "re-delivery")  # the old version, every row kept
    assert reasons == [(["session_id.removed_by_correction"], True)] * n_vitals
    accounting = _published(settings, "SELECT rows_held, rows_held_by_correction, balanced FROM data_quality."
                            "file_accounting WHERE export = 'vitals' AND export_month = '2025-02'")
    assert accounting == [(n_vitals, n_vitals, True)]
    assert _published(settings, "SELECT n_rows FROM data_quality.quarantine_reasons WHERE export = 'vitals' "
                      "AND reason = 'session_id.removed_by_correction' AND held") == [(n_vitals,)]
    assert differences(first, settings.warehouse / PUBLISHED_NAME)  # the correction changed the build

    # The first build, rebuilt from the versions it held, publishes the same cells
    out_dir = tmp_path / "reproduced"
    assert main(["reproduce", "--build", str(first_id), "--out", str(out_dir), "--quiet"]) == 0
    reproduced = out_dir / PUBLISHED_NAME
    assert differences(first, reproduced) == []
    with duckdb.connect(str(reproduced), read_only=True) as con:
        reproduces, synthetic = con.execute("SELECT reproduces, synthetic FROM meta.build").fetchone()
    assert reproduces == first_id
    assert synthetic is True  # a version generated by synth, though the reproduction's landing is empty
    assert main(["reproduce", "--build", "no-such-build", "--out", str(tmp_path / "x")]) == 2
    assert "--build no-such-build: no such build" in capsys.readouterr().err


def test_a_retracted_month_leaves_the_marts_until_it_is_delivered_again(
        settings: Settings, landing: Path, tiny_build: TinyBuild, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    first = _first_build(settings, tiny_build, tmp_path)
    march = "SELECT sum(n_sessions) FROM marts.adverse_events WHERE site_id = 'ALL' AND ae_term = 'any' " \
            "AND month = DATE '2025-03-01'"
    assert _published(settings, march)[0][0] > 0

    # A reason that looks like an identifier is refused before anything changes
    assert main(["retract", "--month", "2025-03", "--export", "sessions",
                 "--reason", "mail jane.doe@example.org about it"]) == 2
    err = capsys.readouterr().err
    assert "looks like it holds an e-mail address" in err and "jane.doe" not in err
    assert differences(first, settings.warehouse / PUBLISHED_NAME) == []

    # Retracted: the month's run leaves the landing file (untouched) out
    assert main(["retract", "--month", "2025-03", "--export", "sessions", "--reason", "wrong site's export",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "retracted sessions_2025-03.csv" in out
    assert "left out:      sessions_2025-03.csv: retracted (wrong site's export)" in out
    assert _published(settings, march)[0][0] in (None, 0)
    held = _published(settings, "SELECT export, export_month FROM meta.build_file_versions "
                      "WHERE export_month = '2025-03' ORDER BY 1")
    assert held == [("questionnaires", "2025-03"), ("vitals", "2025-03")]
    assert _published(settings, "SELECT export, export_month, source_file, reason "
                      "FROM data_quality.retractions") == [
        ("sessions", "2025-03", "sessions_2025-03.csv", "wrong site's export")]
    assert _published(settings, "SELECT count(*) FROM data_quality.file_accounting WHERE export = 'sessions' "
                      "AND export_month = '2025-03'") == [(0,)]
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.sessions "
                           "WHERE export_month = '2025-03'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM raw.sessions_superseded WHERE export_month = '2025-03' "
                           "AND superseded_by = 'retraction'").fetchone()[0] > 0

    # Delivered again (the same bytes written anew): the retraction is undone, the marts are as before
    path = landing / "sessions" / "sessions_2025-03.csv"
    later = time.time() + 2
    os.utime(path, (later, later))
    assert main(["run", "--quiet"]) == 0
    assert [d for d in differences(first, settings.warehouse / PUBLISHED_NAME)
            if d.startswith(("marts.", "reporting.", "meta.build_file_versions"))] == []
    # the audit row stays
    assert _published(settings, "SELECT count(*) FROM data_quality.retractions") == [(1,)]
