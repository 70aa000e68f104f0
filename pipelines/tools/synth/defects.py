"""Injected defects: realistic export errors, each logged with where to find it.

With `defect_rate` p, each data row of a file gets one defect with probability p. Every
defect is logged in `_synth/defects.csv` (export, month, file, line, row, kind, column,
key, detail, detected_by). `line` counts lines of the written CSV text with the header
as line 1 (empty for parquet); `row` counts data rows from 1. `key` is the affected
row's key before the defect, its contract key columns joined by `|`.

How each kind can be found (`detected_by`):

| kind               | detected_by | what the row shows                                              |
|--------------------|-------------|-----------------------------------------------------------------|
| out_of_range       | row         | dose_mg <= 0, weight_kg/duration_min above the contract maximum,|
|                    |             | a vital far above its plausible maximum, item value above the   |
|                    |             | instrument's maximum or item number 99                           |
| bad_unit           | row         | vitals unit is a known unit but not the measure's               |
| wrong_type         | row         | text such as `abc` in a numeric column                          |
| missing_required   | row         | a required column is empty (never the sessions' own ids)        |
| unknown_ae_term    | row         | adverse_events names a term outside the controlled list        |
| bad_ae_grade       | row         | adverse_events has grade 0 or 7                                 |
| outside_month      | row         | timestamp in the month before the file's month                  |
| future_timestamp   | row         | timestamp 30 years ahead (after today)                          |
| malformed_line     | parse       | one field missing or one extra; or an unterminated quote, only  |
|                    |             | ever on the file's last line so no other line is swallowed      |
| duplicate_exact    | key         | a copy of the previous line (same key, same values)             |
| duplicate_conflict | key         | the previous line's key with one value changed (still valid)    |
| orphan             | key         | vitals session_id / questionnaire patient_id found in no        |
|                    |             | sessions file (a well-formed id that was never issued)          |

Sessions rows never lose their session_id or patient_id and are never broken in place
(a malformed sessions line is an extra, broken copy), so a defect never turns the
vitals or questionnaires of a session into unlogged orphans.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from pipelines import contract
from pipelines.tools.synth.ids import make_ids

KINDS: tuple[str, ...] = (
    "out_of_range", "bad_unit", "wrong_type", "missing_required", "duplicate_exact", "duplicate_conflict",
    "orphan", "unknown_ae_term", "bad_ae_grade", "malformed_line", "outside_month", "future_timestamp",
)
DETECTED_BY: dict[str, str] = {
    **{k: "row" for k in KINDS},
    "malformed_line": "parse",
    "duplicate_exact": "key",
    "duplicate_conflict": "key",
    "orphan": "key",
}
APPLICABLE: dict[str, tuple[str, ...]] = {
    "sessions": ("out_of_range", "wrong_type", "missing_required", "duplicate_exact", "duplicate_conflict",
                 "unknown_ae_term", "bad_ae_grade", "malformed_line", "outside_month", "future_timestamp"),
    "vitals": ("out_of_range", "bad_unit", "wrong_type", "missing_required", "duplicate_exact",
               "duplicate_conflict", "orphan", "malformed_line", "outside_month", "future_timestamp"),
    "questionnaires": ("out_of_range", "wrong_type", "missing_required", "duplicate_exact",
                       "duplicate_conflict", "orphan", "malformed_line", "outside_month", "future_timestamp"),
}
LOG_COLUMNS: tuple[str, ...] = (
    "export", "month", "file", "line", "row", "kind", "column", "key", "detail", "detected_by",
)
TIME_COLUMN = {e.name: next(c.name for c in e.columns if c.in_file_month) for e in contract.CONTRACT.values()}
UNKNOWN_AE_TERMS = ("vertigo", "euphoria", "feeling_drunk", "hypoesthesia", "lethargy")  # label terms
WRONG_TYPE_TEXT = ("abc", "n.a.", "1O")
FUTURE_YEARS = 30
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
Row = dict[str, str | None]


@dataclass(frozen=True)
class Defect:
    """One logged defect."""

    export: str
    month: str
    file: str
    line: int | None
    row: int
    kind: str
    column: str
    key: str
    detail: str
    detected_by: str

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in LOG_COLUMNS}


@dataclass
class _Change:
    """What one defect does to the frame before row numbers are known."""

    position: int  # sort position: 2 * original index (replace) or 2 * index + 1 (insert after)
    row: Row
    kind: str
    column: str
    key: str
    detail: str
    malformed: str = ""  # missing_field | extra_field | unterminated_quote


def _key(export: str, row: Row) -> str:
    return "|".join(str(row.get(k) or "") for k in contract.export(export).key)


def _shift_months(text: str, months: int) -> str:
    ts = datetime.strptime(text, _TIME_FORMAT)
    y, m = divmod(ts.month - 1 + months, 12)
    return ts.replace(year=ts.year + y, month=m + 1, day=min(ts.day, 28)).strftime(_TIME_FORMAT)


def _future(text: str) -> str:
    ts = datetime.strptime(text, _TIME_FORMAT)
    return ts.replace(year=ts.year + FUTURE_YEARS, day=min(ts.day, 28)).strftime(_TIME_FORMAT)


class Injector:
    """Applies defects to one file's rows (all columns as text) and records them."""

    def __init__(self, rng: np.random.Generator, export: str, orphan_ids: Iterator[str]) -> None:
        self.rng = rng
        self.export = export
        self.exp = contract.export(export)
        self._orphan_ids = orphan_ids  # well-formed ids that were never issued

    def _pick(self, options: tuple | list) -> str:
        return options[int(self.rng.integers(0, len(options)))]

    # --- one function per kind: each returns (column, detail, new row, insert_after?) ---------
    def out_of_range(self, row: Row) -> tuple[str, str, Row, bool]:
        new = dict(row)
        if self.export == "sessions":
            column = self._pick(["dose_mg", "dose_mg", "weight_kg", "duration_min"])
            if column == "dose_mg":
                new[column] = self._pick(["0.0", "-" + (row["dose_mg"] or "35.0")])
            else:
                limit = self.exp.column(column).max or 0
                new[column] = f"{limit + 150:.1f}" if column == "weight_kg" else str(int(limit) + 660)
        elif self.export == "vitals":
            column = "value"
            measure = contract.VITAL_BY_CODE.get(row["measure"] or "")
            top = measure.plausible_max if measure else 260
            new[column] = str(int(round(top * 3.5, -1)))
        else:
            instrument = contract.INSTRUMENT_BY_NAME[row["instrument"] or "PCL5"]
            column = self._pick(["value", "item"])
            new[column] = str(instrument.item_max + 5) if column == "value" else "99"
        return column, f"{row[column]} -> {new[column]}", new, False

    def bad_unit(self, row: Row) -> tuple[str, str, Row, bool]:
        measure = contract.VITAL_BY_CODE[row["measure"] or "systolic_bp"]
        unit = self._pick([u for u in contract.VITAL_UNITS if u != measure.unit])
        return "unit", f"{row['unit']} -> {unit}", {**row, "unit": unit}, False

    def wrong_type(self, row: Row) -> tuple[str, str, Row, bool]:
        numeric = [c.name for c in self.exp.columns if c.dtype in ("DOUBLE", "INTEGER")]
        column = self._pick(numeric)
        text = self._pick(WRONG_TYPE_TEXT)
        return column, f"{row[column]} -> {text}", {**row, column: text}, False

    def missing_required(self, row: Row) -> tuple[str, str, Row, bool]:
        protected = ("session_id", "patient_id") if self.export == "sessions" else ()
        column = self._pick([c for c in self.exp.required_columns if c not in protected])
        return column, f"{row[column]} -> (empty)", {**row, column: None}, False

    def duplicate_exact(self, row: Row) -> tuple[str, str, Row, bool]:
        return "", "copy of the previous line", dict(row), True

    def duplicate_conflict(self, row: Row) -> tuple[str, str, Row, bool]:
        new = dict(row)
        if self.export == "sessions":
            column = "dose_mg"
            new[column] = f"{float(row[column] or 0) + 5.0:.1f}"
        elif self.export == "vitals":
            column = "value"
            measure = contract.VITAL_BY_CODE[row["measure"] or "systolic_bp"]
            value = float(row[column] or 0)
            step = 5 if value + 5 <= measure.plausible_max else -5
            new[column] = str(int(value + step))
        else:
            column = "value"
            instrument = contract.INSTRUMENT_BY_NAME[row["instrument"] or "PCL5"]
            new[column] = str((int(row[column] or 0) + 1) % (instrument.item_max + 1))
        return column, f"same key as the previous line, {column} {row[column]} -> {new[column]}", new, True

    def orphan(self, row: Row) -> tuple[str, str, Row, bool]:
        new_id = next(self._orphan_ids)
        if self.export == "vitals":
            return "session_id", f"{row['session_id']} -> {new_id}", {**row, "session_id": new_id}, False
        return "patient_id", f"{row['patient_id']} -> {new_id}", {**row, "patient_id": new_id,
                                                                   "session_id": None}, False

    def unknown_ae_term(self, row: Row) -> tuple[str, str, Row, bool]:
        pair = f"{self._pick(UNKNOWN_AE_TERMS)}:{int(self.rng.integers(1, 3))}"
        text = f"{row['adverse_events']};{pair}" if row["adverse_events"] else pair
        return "adverse_events", f"added {pair}", {**row, "adverse_events": text}, False

    def bad_ae_grade(self, row: Row) -> tuple[str, str, Row, bool]:
        grade = self._pick(["0", "7"])
        if row["adverse_events"]:
            pairs = row["adverse_events"].split(";")
            i = int(self.rng.integers(0, len(pairs)))
            pairs[i] = pairs[i].split(":")[0] + ":" + grade
            text = ";".join(pairs)
        else:
            text = f"{self._pick(['dizziness', 'nausea', 'headache'])}:{grade}"
        return "adverse_events", f"grade {grade}", {**row, "adverse_events": text}, False

    def outside_month(self, row: Row) -> tuple[str, str, Row, bool]:
        column = TIME_COLUMN[self.export]
        text = _shift_months(row[column] or "", -1)
        return column, f"{row[column]} -> {text}", {**row, column: text}, False

    def future_timestamp(self, row: Row) -> tuple[str, str, Row, bool]:
        column = TIME_COLUMN[self.export]
        text = _future(row[column] or "")
        return column, f"{row[column]} -> {text}", {**row, column: text}, False

    def malformed_line(self, row: Row) -> tuple[str, str, Row, bool]:
        # The text edit happens at write time; sessions get an extra broken copy (see module doc).
        return "", "", dict(row), self.export == "sessions"


def _line_text(row: Row, columns: tuple[str, ...], variant: str, rng: np.random.Generator) -> str:
    """The broken CSV line for a malformed_line defect."""
    fields = [row[c] or "" for c in columns]
    if any(ch in f for f in fields for ch in ',"\n\r'):
        raise ValueError("malformed_line needs a row without quoted fields")
    i = int(rng.integers(0, len(fields)))
    if variant == "missing_field":
        del fields[i]
    elif variant == "extra_field":
        fields.insert(i, fields[i])
    else:  # unterminated_quote: an opening quote that never closes, on the file's last line
        fields[-1] = '"' + fields[-1]
    return ",".join(fields)


def inject(
    frame: pl.DataFrame, *, export: str, month: str, file: str, rate: float, rng: np.random.Generator,
    csv: bool, orphan_index: np.ndarray, seed: int,
) -> tuple[pl.DataFrame, dict[int, str], list[Defect]]:
    """Return the frame with defects applied, CSV line edits (line -> text) and the log entries.

    `frame` holds one file's rows with every column as text. Without CSV output there are no
    lines to break, so malformed_line is not drawn.
    """
    n = frame.height
    hits = np.flatnonzero(rng.random(n) < rate)
    if len(hits) == 0:
        return frame, {}, []
    kinds = [k for k in APPLICABLE[export] if csv or k != "malformed_line"]
    picks = rng.integers(0, len(kinds), len(hits))
    n_orphans = sum(kinds[p] == "orphan" for p in picks.tolist())
    orphan_kind = "session" if export == "vitals" else "patient"
    orphan_ids = iter(make_ids(orphan_kind, orphan_index[:n_orphans], seed).tolist())
    injector = Injector(rng, export, orphan_ids)
    columns = frame.columns
    rows = frame[hits].to_dicts()
    changes: list[_Change] = []
    quote_used = False
    for index, row, pick in zip(hits.tolist(), rows, picks.tolist(), strict=True):
        kind = kinds[pick]
        column, detail, new, insert_after = getattr(injector, kind)(row)
        position = 2 * index + (1 if insert_after else 0)
        variant = ""
        if kind == "malformed_line":
            variant = "missing_field" if rng.random() < 0.5 else "extra_field"
            if not quote_used and rng.random() < 1 / 3:
                quote_used = True
                variant = "unterminated_quote"
                if export == "sessions":
                    position = 2 * (n - 1) + 1  # broken copy appended after the last row
                elif index != n - 1 and not np.isin(n - 1, hits):
                    last = frame[n - 1].to_dicts()[0]
                    row, new, position = last, dict(last), 2 * (n - 1)
                elif index != n - 1:
                    variant = "extra_field"
            detail = variant
        changes.append(_Change(position, new, kind, column, _key(export, row), detail, variant))

    base = frame.with_columns(pl.int_range(0, 2 * n, 2, dtype=pl.Int64).alias("_position"))
    replaced = sorted({c.position for c in changes if c.position % 2 == 0})
    base = base.filter(~pl.col("_position").is_in(replaced))
    schema = {c: pl.String for c in columns}
    extra = pl.DataFrame([c.row for c in changes], schema=schema, orient="row").with_columns(
        pl.Series("_position", [c.position for c in changes], dtype=pl.Int64)
    )
    if extra["_position"].n_unique() != extra.height:  # two changes on one position: keep the first
        extra = extra.unique("_position", keep="first", maintain_order=True)
    out = pl.concat([base, extra]).sort("_position")
    positions = out["_position"].to_numpy()
    out = out.drop("_position")

    edits: dict[int, str] = {}
    log: list[Defect] = []
    seen: set[int] = set()
    for change in changes:
        if change.position in seen:
            continue
        seen.add(change.position)
        row_no = int(np.searchsorted(positions, change.position)) + 1
        line = row_no + 1 if csv else None
        if change.malformed and line is not None:
            edits[line] = _line_text(change.row, tuple(columns), change.malformed, rng)
        log.append(Defect(export, month, file, line, row_no, change.kind, change.column, change.key,
                          change.detail, DETECTED_BY[change.kind]))
    log.sort(key=lambda d: d.row)
    return out, edits, log
