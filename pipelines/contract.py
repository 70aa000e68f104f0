"""The export contract: the one place in code that knows export columns, types and rules.

Every other module (generator, loader, validation rules, GX suites, docs) reads
these definitions instead of repeating column names. `docs/export-contract.md`
is rendered from this module (`outcomes contract`), and a test keeps them equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# An export month, YYYY-MM: file names, flags, settings and partition keys all use it.
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# Identifier shapes (issue #12). Every id, whatever the network, is short, starts with a letter
# or digit and holds only letters, digits, `.`, `_` and `-`: no spaces, no invisible
# characters, no leading `=`, `+`, `-` or `@` that a spreadsheet would run as a formula.
SAFE_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
# And each id column has its network's own shape: an SSN, MRN or phone number delivered as a
# patient_id does not fit it. These defaults are the demo network's (pipelines/tools/synth/ids.py:
# prefix and lower-case hex); a network sets its own with OUTCOMES_ID_PATTERNS (a JSON file
# {column: regular expression}, pipelines/settings.py). Patterns match the whole value.
DEFAULT_ID_PATTERNS: dict[str, str] = {
    "patient_id": r"P-[0-9a-f]{1,32}",
    "session_id": r"SE-[0-9a-f]{1,32}",
    "response_id": r"R-[0-9a-f]{1,32}",
    "clinician_id": r"C-[0-9a-f]{1,32}",
    "site_id": r"S[0-9]{3,6}",
}

EXPORTS: tuple[str, ...] = ("sessions", "vitals", "questionnaires")

# File naming: landing/<export>/<export>_<YYYY-MM>.<ext>
FILE_EXTENSIONS: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")
FILE_NAME_RE = re.compile(
    r"^(?P<export>sessions|vitals|questionnaires)_(?P<month>\d{4}-(0[1-9]|1[0-2]))"
    r"(?P<ext>\.csv|\.csv\.gz|\.parquet)$"
)

DRUGS: tuple[str, ...] = ("ketamine", "esketamine")
ROUTES: tuple[str, ...] = ("IV", "IM", "IN", "SL", "PO")
STATUSES: tuple[str, ...] = ("completed", "stopped_early", "cancelled")
AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-89", "90+")
SEXES: tuple[str, ...] = ("F", "M", "X", "U")
INDICATIONS: tuple[str, ...] = ("PTSD", "MDD", "PTSD+MDD", "other")
BOOLEANS: tuple[str, ...] = ("true", "false")

# Controlled adverse-event vocabulary for the `adverse_events` column (term:grade;term:grade).
AE_TERMS: tuple[str, ...] = (
    "dissociation",
    "nausea",
    "vomiting",
    "dizziness",
    "headache",
    "sedation",
    "hypertension",
    "tachycardia",
    "anxiety",
    "agitation",
    "hallucination",
    "blurred_vision",
    "emergence_reaction",
    "other",
)
AE_GRADE_MIN, AE_GRADE_MAX = 1, 5  # CTCAE: 1 mild ... 5 death


@dataclass(frozen=True)
class VitalMeasure:
    """A vital sign: its canonical name, accepted LOINC codes, unit and plausible range."""

    name: str
    loinc: tuple[str, ...]
    unit: str
    plausible_min: float
    plausible_max: float
    label: str


# Physiologic plausibility limits (issue #3): values outside are recording errors, not events.
VITAL_MEASURES: tuple[VitalMeasure, ...] = (
    VitalMeasure("systolic_bp", ("8480-6",), "mmHg", 50, 260, "Systolic blood pressure"),
    VitalMeasure("diastolic_bp", ("8462-4",), "mmHg", 20, 160, "Diastolic blood pressure"),
    VitalMeasure("heart_rate", ("8867-4",), "/min", 20, 250, "Heart rate"),
    VitalMeasure("spo2", ("59408-5", "2708-6"), "%", 50, 100, "Oxygen saturation (pulse oximetry)"),
    VitalMeasure("resp_rate", ("9279-1",), "/min", 4, 60, "Respiratory rate"),
)
VITAL_BY_CODE: dict[str, VitalMeasure] = {
    code: m for m in VITAL_MEASURES for code in (m.name, *m.loinc)
}
VITAL_UNITS: tuple[str, ...] = tuple(dict.fromkeys(m.unit for m in VITAL_MEASURES))


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: number of items and the range of each item's value."""

    name: str
    n_items: int
    item_min: int
    item_max: int
    label: str


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("PCL5", 20, 0, 4, "PTSD Checklist for DSM-5"),
    Instrument("PHQ9", 9, 0, 3, "Patient Health Questionnaire-9"),
    Instrument("GAD7", 7, 0, 3, "Generalized Anxiety Disorder-7"),
    Instrument("CADSS", 23, 0, 4, "Clinician-Administered Dissociative States Scale (23 items)"),
)
INSTRUMENT_BY_NAME: dict[str, Instrument] = {i.name: i for i in INSTRUMENTS}


@dataclass(frozen=True)
class Column:
    """One export column. `dtype` is the DuckDB type the raw text must cast to."""

    name: str
    dtype: str  # VARCHAR | TIMESTAMP | DOUBLE | INTEGER | BOOLEAN
    required: bool
    description: str
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    in_file_month: bool = False  # timestamps: inside the file's month and not in the future
    identifier: bool = False  # a pseudonymous id: never a direct identifier


@dataclass(frozen=True)
class Export:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    row_rules: tuple[str, ...] = field(default=())  # prose for rules spanning columns

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


SESSIONS = Export(
    name="sessions",
    description="One row per scheduled treatment session (completed, stopped early or cancelled).",
    key=("session_id",),
    columns=(
        Column("session_id", "VARCHAR", True, "Unique session identifier.", identifier=True),
        Column("patient_id", "VARCHAR", True, "Pseudonymous patient identifier.", identifier=True),
        Column("site_id", "VARCHAR", True, "Treating site (clinic) identifier."),
        Column("clinician_id", "VARCHAR", False, "Pseudonymous clinician identifier.", identifier=True),
        Column(
            "session_start", "TIMESTAMP", True,
            "Session start, ISO 8601 local time without zone (the real date of service).",
            in_file_month=True,
        ),
        Column("drug", "VARCHAR", True, "Drug given.", allowed=DRUGS),
        Column("route", "VARCHAR", True, "Route of administration.", allowed=ROUTES),
        Column("dose_mg", "DOUBLE", True, "Total dose in milligrams.", min=0, min_exclusive=True),
        Column("weight_kg", "DOUBLE", False, "Body weight in kilograms.", min=30, max=250),
        Column("duration_min", "DOUBLE", False, "Session (infusion) duration in minutes.", min=0, max=240),
        Column("status", "VARCHAR", True, "Session outcome.", allowed=STATUSES),
        Column("stop_reason", "VARCHAR", False, "Free-text reason a session stopped early (kept in the build "
               "file only; published as a code from the stop_reasons seed)."),
        Column(
            "adverse_events", "VARCHAR", False,
            "Reported adverse events: `;`-separated `term:grade` pairs, term from the "
            "controlled list, grade 1-5 (CTCAE).",
        ),
        Column(
            "serious_adverse_event", "BOOLEAN", True,
            "Whether a serious adverse event (21 CFR 312.32) occurred.", allowed=BOOLEANS,
        ),
        Column("age_band", "VARCHAR", True, "Age band at the session (over 89 is `90+`).", allowed=AGE_BANDS),
        Column("sex", "VARCHAR", True, "Sex: F, M, X (other) or U (unknown).", allowed=SEXES),
        Column("indication", "VARCHAR", True, "Treatment indication.", allowed=INDICATIONS),
    ),
    row_rules=(
        "`session_id` is unique within and across files.",
        "`adverse_events`, when present, parses as `term:grade` pairs with known terms and grades 1-5.",
    ),
)

VITALS = Export(
    name="vitals",
    description="One row per vital-sign reading taken around a session (long format).",
    key=("session_id", "measured_at", "measure"),
    columns=(
        Column("session_id", "VARCHAR", True, "Session the reading belongs to.", identifier=True),
        Column(
            "measured_at", "TIMESTAMP", True, "Time of the reading, ISO 8601 without zone.",
            in_file_month=True,
        ),
        Column(
            "measure", "VARCHAR", True, "Measure name or its LOINC code.",
            allowed=tuple(VITAL_BY_CODE),
        ),
        Column("value", "DOUBLE", True, "Reading, within the physiologic range of its measure."),
        Column("unit", "VARCHAR", True, "Unit, matching the measure.", allowed=VITAL_UNITS),
    ),
    row_rules=(
        "`value` lies within the plausible range of its measure (table below).",
        "`unit` is the unit of its measure (table below).",
        "`session_id` refers to a session in the sessions export.",
        "(`session_id`, `measured_at`, `measure`) is unique.",
    ),
)

QUESTIONNAIRES = Export(
    name="questionnaires",
    description="One row per item answer of one questionnaire administration (long format).",
    key=("response_id", "item"),
    columns=(
        Column("response_id", "VARCHAR", True, "One administration of one instrument.", identifier=True),
        Column("patient_id", "VARCHAR", True, "Pseudonymous patient identifier.", identifier=True),
        Column(
            "session_id", "VARCHAR", False,
            "Session the administration belongs to (baselines often have none).", identifier=True,
        ),
        Column(
            "instrument", "VARCHAR", True, "Instrument code.",
            allowed=tuple(i.name for i in INSTRUMENTS),
        ),
        Column(
            "administered_at", "TIMESTAMP", True, "Time of administration, ISO 8601 without zone.",
            in_file_month=True,
        ),
        Column("item", "INTEGER", True, "Item number, 1..n for the instrument.", min=1),
        Column("value", "INTEGER", True, "Item answer, within the instrument's item range."),
    ),
    row_rules=(
        "`item` is 1..n and `value` within the item range of the instrument (table below).",
        "(`response_id`, `item`) is unique; one response has one patient, instrument and time.",
        "`patient_id` (and `session_id` when given) refer to the sessions export.",
    ),
)

CONTRACT: dict[str, Export] = {e.name: e for e in (SESSIONS, VITALS, QUESTIONNAIRES)}


def export(name: str) -> Export:
    """Look up an export by name with a clear error for unknown names."""
    try:
        return CONTRACT[name]
    except KeyError:
        raise KeyError(f"unknown export {name!r}; expected one of {', '.join(EXPORTS)}") from None


def file_name(export_name: str, month: str, ext: str = ".csv") -> str:
    """The landing file name of one export month, e.g. `vitals_2025-03.csv`."""
    return f"{export_name}_{month}{ext}"
