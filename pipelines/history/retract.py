"""Retract an export month: take its rows out of the build, with an audit row (`outcomes retract`).

Landing is an inbox, not the truth: removing a file from it changes nothing in the warehouse.
A month that must not be in the marts (the wrong clinic's file, a file the clinic withdrew) is
retracted: its current file version stops being current, its rows move to the superseded
tables (kept, so earlier builds stay reproducible), raw.retractions records when and why, and a
run of the month takes it out of staging and quarantine, the marts, the published build
(meta.build says which months it holds) and the month's report. Who asked is not known here.

A later delivery undoes it: a file with other bytes, or the same bytes written into landing
again after the retraction (pipelines/ingest/load.py). The retracted file left untouched in
landing stays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines import contract
from pipelines.ingest.load import supersede
from pipelines.ingest.phi import identifier_in_text
from pipelines.ingest.tables import ensure_ingest_tables
from pipelines.settings import Settings, SettingsError
from pipelines.sql import connect, has_table, transaction
from pipelines.writer_lock import writer_lock

MAX_REASON_LENGTH = 300


@dataclass(frozen=True)
class Retraction:
    export: str
    month: str
    source_file: str | None  # the version taken out; None when the month had none current
    retracted_at: datetime


def check_reason(reason: str) -> str:
    """The reason as recorded: one line, not empty, short, and not looking like an identifier (it is
    published in data_quality.retractions: describe the problem, never a patient)."""
    text = " ".join(reason.split())
    if not text:
        raise SettingsError("--reason is empty: say why the month is retracted (it is kept as the audit row)")
    if len(text) > MAX_REASON_LENGTH:
        raise SettingsError(f"--reason is {len(text)} characters long; keep it under {MAX_REASON_LENGTH}")
    kind = identifier_in_text(text)
    if kind:
        raise SettingsError(f"--reason looks like it holds {kind}; it is published to quality teams: "
                            "describe the problem without identifiers (text not shown)")
    return text


def record_retraction(settings: Settings, export: str, month: str, reason: str) -> Retraction:
    """Take the month's current version out of raw (rows to the superseded tables) and write the
    audit row, in one transaction, under the writer lock. The caller then runs the month."""
    contract.export(export)  # an unknown export is a KeyError naming it
    text = check_reason(reason)
    if not settings.build_db.exists():
        raise SettingsError(f"no warehouse at {settings.build_db}: nothing to retract")
    now = datetime.now(UTC).replace(tzinfo=None)
    with writer_lock(settings.warehouse, "outcomes retract"), connect(settings.build_db) as con:
        ensure_ingest_tables(con)
        current = con.execute(
            "SELECT source_file, file_sha256 FROM raw.file_versions WHERE export = ? AND export_month = ? "
            "AND is_current", [export, month]).fetchone()
        staged = has_table(con, "quarantine", "file_accounting") and con.execute(
            "SELECT count(*) FROM quarantine.file_accounting WHERE export = ? AND export_month = ?",
            [export, month]).fetchone()[0]  # type: ignore[index]
        if current is None and not staged:
            raise SettingsError(f"the warehouse holds no {export} file for {month}: nothing to retract")
        with transaction(con):
            supersede(con, export, month, None, now, "retraction")
            con.execute("UPDATE raw.file_versions SET is_current = false "
                        "WHERE export = ? AND export_month = ?", [export, month])
            con.execute("INSERT INTO raw.retractions VALUES (?, ?, ?, ?, ?, ?)",
                        [export, month, *(current or (None, None)), text, now])
    return Retraction(export, month, current[0] if current else None, now)
