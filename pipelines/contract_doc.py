"""Render the export contract (pipelines.contract) as the Markdown of docs/export-contract.md."""

from __future__ import annotations

from pipelines import contract
from pipelines.contract import Column, Export
from pipelines.validate.rules import row_rules

HEADER = """# Export contract

<!-- Generated from pipelines/contract.py by `outcomes contract --write docs/export-contract.md`.
     Do not edit by hand: tests/test_contract.py fails when this file and the code differ. -->

Clinics deliver three exports every month, one file per export per month:

    landing/<export>/<export>_<YYYY-MM>.csv      (also .csv.gz and .parquet)

CSV files are UTF-8, comma-separated, with a header row (names in lower case, as below;
no Excel `sep=` line) and a line ending after the last line; fields holding a comma or a
quote are quoted with `"` and inner quotes doubled. An empty field is a missing value.

A file must be whole when it appears in landing (write it under another name, then
rename it). A sidecar manifest `<file name>.manifest.json` holding
`{"rows": <data records>, "sha256": "<the file's SHA-256>"}` is optional; when present,
the file loads only if both match. Without one, a delivery that looks partial is refused
and the month keeps its previous version: a CSV whose last line has no line ending, a
re-delivery with fewer than 80% of the records of the version it replaces
(`OUTCOMES_REDELIVERY_MIN_SHARE`), or a month's first delivery with fewer than 25% of the
median of the export's previous three months (`OUTCOMES_NEW_MONTH_MIN_SHARE`); counts
under 100 are not compared. A matching manifest is how a clinic confirms a month that
really is small.
Timestamps are ISO 8601 local times without a zone (`2025-03-14T09:30:00`; a space
instead of `T`, minutes only and fractional seconds are accepted, a zone suffix is not).
In Parquet, TIMESTAMP columns of any precision are local times; TIMESTAMP WITH TIME ZONE
columns are converted to the local time of `OUTCOMES_TIMEZONE` (one IANA zone for the
network; while it is unset, a file with such a column is rejected, not guessed); a DATE
in a timestamp column is that day at 00:00.

The exports are a HIPAA **limited data set** (45 CFR 164.514(e)), received under the
clinic's data use agreement: dates of service are real dates, because the warehouse
reports by calendar month (monthly files, cohort months, p-charts), which shifted dates
would make meaningless; ages are banded, over 89 as `90+`. No export may carry any of
the 16 direct identifiers of 164.514(e)(2) (names; postal address other than town,
state and ZIP; telephone and fax numbers; e-mail addresses; SSNs; medical record,
health plan, account and certificate/licence numbers; vehicle and device identifiers;
URLs; IP addresses; biometric identifiers; photographs), and, stricter than the rule,
none of what a limited data set may hold but the outcomes do not need (dates of birth,
death or admission, ZIP codes, cities). Identifiers are pseudonymous ids issued by the
clinic, of the network's shape: every id is a short run of letters, digits, `.`, `_` and
`-` starting with a letter or digit (no spaces, invisible characters or spreadsheet
formulas), and matches its column's pattern (by default the demo network's:
{patterns};
a network sets its own with `OUTCOMES_ID_PATTERNS`). Free text (`stop_reason`) stays in
the build file: only its code is published.
A file with a column named like an identifier, or values shaped like one, is rejected
whole (docs/ingest-and-validation.md). Columns outside the contract are ignored and
reported; a file missing a required column is rejected whole.

A row breaking a rule below is quarantined with the rule's reason code; the other
rows of the file are loaded.
"""


def _range(col: Column) -> str:
    parts = []
    if col.min is not None:
        parts.append(f"> {col.min:g}" if col.min_exclusive else f">= {col.min:g}")
    if col.max is not None:
        parts.append(f"<= {col.max:g}")
    if col.in_file_month:
        parts.append("inside the file's month, not in the future")
    return ", ".join(parts)


def _allowed(col: Column) -> str:
    if col.allowed is None:
        return ""
    return ", ".join(f"`{v}`" for v in col.allowed)


def _export_section(exp: Export) -> list[str]:
    lines = [f"## `{exp.name}`", "", exp.description, "",
             f"Key: ({', '.join(f'`{k}`' for k in exp.key)}), unique.", "",
             "| column | type | required | allowed values | range | description |",
             "|---|---|---|---|---|---|"]
    for c in exp.columns:
        lines.append(
            f"| `{c.name}` | {c.dtype.lower()} | {'yes' if c.required else 'no'} | {_allowed(c)} "
            f"| {_range(c)} | {c.description} |"
        )
    lines += ["", "Rules across columns and rows:", ""]
    lines += [f"- {rule}" for rule in exp.row_rules]
    lines += ["", "Row rules and their quarantine reason codes:", "",
              "| reason code | rule |", "|---|---|"]
    lines += [f"| `{r.name}` | {r.message} |" for r in row_rules(exp.name)]
    lines.append("| `key.duplicate` | the key appears on more than one row |")
    return [*lines, ""]


def _reference_tables() -> list[str]:
    lines = ["## Reference values", "", "### Vital measures", "",
             "| measure | LOINC codes also accepted | unit | plausible range | label |",
             "|---|---|---|---|---|"]
    for m in contract.VITAL_MEASURES:
        lines.append(f"| `{m.name}` | {', '.join(f'`{c}`' for c in m.loinc)} | `{m.unit}` "
                     f"| {m.plausible_min:g}-{m.plausible_max:g} | {m.label} |")
    lines += ["", "### Instruments", "", "| instrument | items | item values | name |", "|---|---|---|---|"]
    for i in contract.INSTRUMENTS:
        lines.append(f"| `{i.name}` | 1-{i.n_items} | {i.item_min}-{i.item_max} | {i.label} |")
    lines += ["", "### Adverse-event terms", "",
              "`adverse_events` holds `term:grade` pairs separated by `;`, e.g. "
              "`dissociation:1;nausea:2`. Grades follow CTCAE "
              f"({contract.AE_GRADE_MIN} mild ... {contract.AE_GRADE_MAX} death). Terms:", "",
              ", ".join(f"`{t}`" for t in contract.AE_TERMS), ""]
    return lines


def render_markdown() -> str:
    """The full contract document."""
    patterns = ", ".join(f"`{column}` `{pattern}`" for column, pattern in
                         contract.DEFAULT_ID_PATTERNS.items())
    lines = [HEADER.replace("{patterns}", patterns)]
    for exp in contract.CONTRACT.values():
        lines += _export_section(exp)
    lines += _reference_tables()
    return "\n".join(lines)
