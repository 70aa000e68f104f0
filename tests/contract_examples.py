"""Hand-made export rows shared by the tests: one valid row per export and one failing example per rule."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from pipelines import contract

MONTH = "2025-03"
NOW = datetime(2026, 11, 27, 12, 0, 0)

VALID: dict[str, dict[str, str]] = {
    "sessions": {
        "session_id": "SE-1", "patient_id": "P-1", "site_id": "S001", "clinician_id": "C-1",
        "session_start": "2025-03-14T09:30:00", "drug": "ketamine", "route": "IV", "dose_mg": "40.5",
        "weight_kg": "81.0", "duration_min": "40", "status": "completed", "stop_reason": "",
        "adverse_events": "dissociation:1;nausea:2", "serious_adverse_event": "false",
        "age_band": "35-44", "sex": "F", "indication": "PTSD",
    },
    "vitals": {
        "session_id": "SE-1", "measured_at": "2025-03-14T09:15:00", "measure": "systolic_bp",
        "value": "128", "unit": "mmHg",
    },
    "questionnaires": {
        "response_id": "R-1", "patient_id": "P-1", "session_id": "", "instrument": "PCL5",
        "administered_at": "2025-03-10T10:00:00", "item": "20", "value": "4",
    },
}

# One failing example per rule: (export, rule name) -> the fields to change in the valid row.
BREAKS: dict[tuple[str, str], dict[str, str]] = {
    ("sessions", "session_id.missing"): {"session_id": ""},
    ("sessions", "patient_id.missing"): {"patient_id": " "},
    ("sessions", "site_id.missing"): {"site_id": ""},
    ("sessions", "session_start.missing"): {"session_start": ""},
    ("sessions", "session_start.wrong_type"): {"session_start": "14/03/2025 09:30"},
    ("sessions", "session_start.outside_month"): {"session_start": "2025-04-01T00:00:00"},
    ("sessions", "session_start.in_future"): {"session_start": "2026-11-27T12:00:01"},
    ("sessions", "drug.missing"): {"drug": ""},
    ("sessions", "drug.not_allowed"): {"drug": "Ketamine"},
    ("sessions", "route.missing"): {"route": ""},
    ("sessions", "route.not_allowed"): {"route": "IO"},
    ("sessions", "dose_mg.missing"): {"dose_mg": ""},
    ("sessions", "dose_mg.wrong_type"): {"dose_mg": "40mg"},
    ("sessions", "dose_mg.out_of_range"): {"dose_mg": "0"},
    ("sessions", "weight_kg.wrong_type"): {"weight_kg": "eighty"},
    ("sessions", "weight_kg.out_of_range"): {"weight_kg": "250.1"},
    ("sessions", "duration_min.wrong_type"): {"duration_min": "40 min"},
    ("sessions", "duration_min.out_of_range"): {"duration_min": "-1"},
    ("sessions", "status.missing"): {"status": ""},
    ("sessions", "status.not_allowed"): {"status": "done"},
    ("sessions", "adverse_events.unparseable"): {"adverse_events": "dissociation"},
    ("sessions", "adverse_events.unknown_term"): {"adverse_events": "nausea:1;sneezing:1"},
    ("sessions", "adverse_events.bad_grade"): {"adverse_events": "nausea:6"},
    ("sessions", "serious_adverse_event.missing"): {"serious_adverse_event": ""},
    ("sessions", "serious_adverse_event.not_allowed"): {"serious_adverse_event": "yes"},
    ("sessions", "age_band.missing"): {"age_band": ""},
    ("sessions", "age_band.not_allowed"): {"age_band": "91"},
    ("sessions", "sex.missing"): {"sex": ""},
    ("sessions", "sex.not_allowed"): {"sex": "female"},
    ("sessions", "indication.missing"): {"indication": ""},
    ("sessions", "indication.not_allowed"): {"indication": "OCD"},
    ("vitals", "session_id.missing"): {"session_id": ""},
    ("vitals", "measured_at.missing"): {"measured_at": ""},
    ("vitals", "measured_at.wrong_type"): {"measured_at": "2025-03-14T09:15:00+02:00"},
    ("vitals", "measured_at.outside_month"): {"measured_at": "2025-02-28T23:59:59"},
    ("vitals", "measured_at.in_future"): {"measured_at": "2027-01-01T00:00:00"},
    ("vitals", "measure.missing"): {"measure": ""},
    ("vitals", "measure.not_allowed"): {"measure": "temperature"},
    ("vitals", "value.missing"): {"value": ""},
    ("vitals", "value.wrong_type"): {"value": "1,28"},
    ("vitals", "value.implausible"): {"value": "261"},
    ("vitals", "unit.missing"): {"unit": ""},
    ("vitals", "unit.not_allowed"): {"unit": "kPa"},
    ("vitals", "unit.mismatch"): {"unit": "%"},
    ("questionnaires", "response_id.missing"): {"response_id": ""},
    ("questionnaires", "patient_id.missing"): {"patient_id": ""},
    ("questionnaires", "instrument.missing"): {"instrument": ""},
    ("questionnaires", "instrument.not_allowed"): {"instrument": "PCL-5"},
    ("questionnaires", "administered_at.missing"): {"administered_at": ""},
    ("questionnaires", "administered_at.wrong_type"): {"administered_at": "March 10"},
    ("questionnaires", "administered_at.outside_month"): {"administered_at": "2024-03-10T10:00:00"},
    ("questionnaires", "administered_at.in_future"): {"administered_at": "2026-12-01T10:00:00"},
    ("questionnaires", "item.missing"): {"item": ""},
    ("questionnaires", "item.wrong_type"): {"item": "2.5"},
    ("questionnaires", "item.out_of_range"): {"item": "0"},
    ("questionnaires", "item.beyond_instrument"): {"item": "21"},
    ("questionnaires", "value.missing"): {"value": ""},
    ("questionnaires", "value.wrong_type"): {"value": "four"},
    ("questionnaires", "value.out_of_range"): {"value": "5"},
}

# Changing one field can break a second rule too (e.g. an outside-month date in the future).
ALSO_BROKEN: dict[tuple[str, str], set[str]] = {
    ("sessions", "session_start.in_future"): {"session_start.outside_month"},
    ("vitals", "measured_at.in_future"): {"measured_at.outside_month"},
    ("questionnaires", "administered_at.in_future"): {"administered_at.outside_month"},
    ("vitals", "unit.not_allowed"): {"unit.mismatch"},
}


def write_csv(path: Path, export_name: str, rows: list[dict[str, str]]) -> Path:
    columns = contract.export(export_name).column_names
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
