"""Row-level contract rules rendered as DuckDB SQL over raw text columns.

Raw exports are loaded as VARCHAR so that one bad value never fails a whole
file; each rule here is a SQL boolean that is TRUE when a row breaks it. The
rules are derived from `pipelines.contract`, so adding a column or a range
there changes validation, quarantine and docs together.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines import contract
from pipelines.contract import Column, Export
from pipelines.sql import q, sql_list


@dataclass(frozen=True)
class Rule:
    """One contract rule: `violation` is a SQL predicate, TRUE when a row breaks the rule."""

    export: str
    name: str  # stable identifier, also the quarantine reason code
    column: str
    message: str  # human-readable reason, never containing row values
    violation: str


# `2025-03-14T09:30:00`, a space for the T, minutes only, or fractional seconds (to nanoseconds,
# kept to microseconds): the contract's timestamps (docs/export-contract.md).
TIMESTAMP_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
NUMBER_PATTERNS = {"INTEGER": r"[+-]?[0-9]+", "DOUBLE": r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"}


def typed(column: Column) -> str:
    """SQL expression casting the raw text of a column to its contract type (NULL if it cannot)."""
    raw = q(column.name)
    if column.dtype == "BOOLEAN":
        return f"CASE lower(trim({raw})) WHEN 'true' THEN true WHEN 'false' THEN false END"
    if column.dtype == "TIMESTAMP":
        # ISO 8601 local date-time without zone (TIMESTAMP_PATTERN); a zone suffix or another format
        # does not parse (DuckDB's own cast would drop a "+02" silently).
        return (f"CASE WHEN regexp_full_match(trim({raw}), '{TIMESTAMP_PATTERN}') "
                f"THEN TRY_CAST(replace(trim({raw}), 'T', ' ') AS TIMESTAMP) END")
    if column.dtype == "VARCHAR":
        return f"nullif(trim({raw}), '')"
    # Plain decimal notation only: DuckDB would otherwise accept '2.5' as an integer (rounded),
    # 'nan', 'inf' or '1e3'. Too many digits for a double cast to inf, which passes any lower bound.
    pattern = NUMBER_PATTERNS[column.dtype]
    cast = f"TRY_CAST(trim({raw}) AS {column.dtype})"
    finite = f" AND isfinite({cast})" if column.dtype == "DOUBLE" else ""
    return f"CASE WHEN regexp_full_match(trim({raw}), '{pattern}'){finite} THEN {cast} END"


# Columns derived once per row from the text, so that rules (and GX's batch) read a value cast
# once instead of casting it again in every rule that needs it (3x faster on vitals).
TEXT_SUFFIX = "__text"
TYPED_SUFFIX = "__typed"


def text_column(name: str) -> str:
    """Batch column holding the trimmed text of a contract column (NULL when empty)."""
    return f"{name}{TEXT_SUFFIX}"


def typed_column(name: str) -> str:
    """Batch column holding a contract column cast to its contract type (NULL when it cannot)."""
    return f"{name}{TYPED_SUFFIX}"


def derived_columns(export_name: str) -> dict[str, str]:
    """Alias -> SQL of the derived columns the batch must expose, all built with rules.typed()."""
    out: dict[str, str] = {}
    for col in contract.export(export_name).columns:
        out[text_column(col.name)] = typed(dataclasses.replace(col, dtype="VARCHAR"))
        if col.dtype != "VARCHAR":
            out[typed_column(col.name)] = typed(col)
    return out


def over_derived(export_name: str, predicate: str) -> str:
    """A rule's predicate over the derived columns: each cast replaced by the column holding it,
    longest first, so a cast inside a larger expression stays whole."""
    for alias, expression in sorted(derived_columns(export_name).items(), key=lambda item: -len(item[1])):
        predicate = predicate.replace(expression, q(alias))
    return predicate


def _present(column: Column) -> str:
    return f"nullif(trim({q(column.name)}), '') IS NOT NULL"


# The first instant of the row's own export month (its lineage column, 'YYYY-MM'): the month-window
# rule is one predicate for all the months of a run, not one per month (issue #19: GX's batch over
# 36 months had a 36-way OR).
ROW_MONTH_START = "strptime(export_month, '%Y-%m')"


def _column_rules(exp: Export, col: Column, now: datetime) -> list[Rule]:
    rules: list[Rule] = []
    raw, val, present = q(col.name), typed(col), _present(col)
    if col.required:
        rules.append(Rule(exp.name, f"{col.name}.missing", col.name,
                          f"required column {col.name} is empty", f"NOT ({present})"))
    if col.allowed is not None:
        rules.append(Rule(exp.name, f"{col.name}.not_allowed", col.name,
                          f"{col.name} is not one of the allowed values",
                          f"{present} AND trim({raw}) NOT IN {sql_list(col.allowed)}"))
    elif col.dtype != "VARCHAR":
        rules.append(Rule(exp.name, f"{col.name}.wrong_type", col.name,
                          f"{col.name} is not a valid {col.dtype.lower()}",
                          f"{present} AND {val} IS NULL"))
    if col.min is not None or col.max is not None:
        conds = []
        if col.min is not None:
            conds.append(f"{val} <= {col.min}" if col.min_exclusive else f"{val} < {col.min}")
        if col.max is not None:
            conds.append(f"{val} > {col.max}")
        low = ("> " if col.min_exclusive else ">= ") + str(col.min) if col.min is not None else None
        high = f"<= {col.max}" if col.max is not None else None
        bounds = " and ".join(b for b in (low, high) if b)
        rules.append(Rule(exp.name, f"{col.name}.out_of_range", col.name,
                          f"{col.name} is outside the allowed range ({bounds})",
                          f"{val} IS NOT NULL AND ({' OR '.join(conds)})"))
    if col.in_file_month:
        rules.append(Rule(exp.name, f"{col.name}.outside_month", col.name,
                          f"{col.name} is outside the file's month",
                          f"{val} IS NOT NULL AND ({val} < {ROW_MONTH_START} "
                          f"OR {val} >= {ROW_MONTH_START} + INTERVAL 1 MONTH)"))
        rules.append(Rule(exp.name, f"{col.name}.in_future", col.name,
                          f"{col.name} is in the future",
                          f"{val} IS NOT NULL AND {val} > TIMESTAMP '{now:%Y-%m-%d %H:%M:%S}'"))
    return rules


def _ae_list_rules() -> list[Rule]:
    """adverse_events: `term:grade` pairs separated by `;`, known terms, grades 1-5."""
    items = "list_filter(string_split(trim(adverse_events), ';'), lambda x: trim(x) <> '')"
    pair_ok = r"regexp_full_match(trim(x), '[a-z_]+:[0-9]+')"
    terms = sql_list(contract.AE_TERMS)
    present = "nullif(trim(adverse_events), '') IS NOT NULL"
    lo, hi = contract.AE_GRADE_MIN, contract.AE_GRADE_MAX
    return [
        Rule("sessions", "adverse_events.unparseable", "adverse_events",
             "adverse_events is not a ';'-separated list of term:grade pairs",
             f"{present} AND NOT list_bool_and(list_transform({items}, lambda x: {pair_ok}))"),
        Rule("sessions", "adverse_events.unknown_term", "adverse_events",
             "adverse_events names a term outside the controlled list",
             f"{present} AND list_bool_or(list_transform({items}, lambda x: {pair_ok} AND "
             f"split_part(trim(x), ':', 1) NOT IN {terms}))"),
        Rule("sessions", "adverse_events.bad_grade", "adverse_events",
             f"adverse_events has a grade outside {lo}-{hi}",
             f"{present} AND list_bool_or(list_transform({items}, lambda x: {pair_ok} AND "
             # A grade too large for an integer casts to NULL: outside the range too (issue #13, item 5;
             # the model casts it to integer and would fail every month).
             f"NOT coalesce(TRY_CAST(split_part(trim(x), ':', 2) AS INTEGER) BETWEEN {lo} AND {hi}, "
             "false)))"),
    ]


def _vital_rules() -> list[Rule]:
    """Per-measure plausibility and unit rules for the long vitals export."""
    value = typed(contract.VITALS.column("value"))
    range_cases = " ".join(
        f"WHEN trim(measure) IN {sql_list((m.name, *m.loinc))} "
        f"THEN {value} NOT BETWEEN {m.plausible_min} AND {m.plausible_max}"
        for m in contract.VITAL_MEASURES
    )
    unit_cases = " ".join(
        f"WHEN trim(measure) IN {sql_list((m.name, *m.loinc))} THEN trim(unit) <> '{m.unit}'"
        for m in contract.VITAL_MEASURES
    )
    return [
        Rule("vitals", "value.implausible", "value",
             "value is outside the physiologic range of its measure",
             f"{value} IS NOT NULL AND coalesce(CASE {range_cases} END, false)"),
        Rule("vitals", "unit.mismatch", "unit",
             "unit does not match the measure",
             f"nullif(trim(unit), '') IS NOT NULL AND coalesce(CASE {unit_cases} END, false)"),
    ]


def _questionnaire_rules() -> list[Rule]:
    """Item number and item value ranges depend on the instrument."""
    item = typed(contract.QUESTIONNAIRES.column("item"))
    value = typed(contract.QUESTIONNAIRES.column("value"))
    item_cases = " ".join(
        f"WHEN '{i.name}' THEN {item} > {i.n_items}" for i in contract.INSTRUMENTS
    )
    value_cases = " ".join(
        f"WHEN '{i.name}' THEN {value} NOT BETWEEN {i.item_min} AND {i.item_max}"
        for i in contract.INSTRUMENTS
    )
    return [
        Rule("questionnaires", "item.beyond_instrument", "item",
             "item number is beyond the instrument's number of items",
             f"{item} IS NOT NULL AND coalesce(CASE trim(instrument) {item_cases} END, false)"),
        Rule("questionnaires", "value.out_of_range", "value",
             "value is outside the instrument's item range",
             f"{value} IS NOT NULL AND coalesce(CASE trim(instrument) {value_cases} END, false)"),
    ]


def row_rules(export_name: str, now: datetime | None = None) -> list[Rule]:
    """All rules that can be decided from one row alone (and its `export_month`), for one export."""
    exp = contract.export(export_name)
    now = now or datetime.now()
    rules = [r for col in exp.columns for r in _column_rules(exp, col, now)]
    if export_name == "sessions":
        rules += _ae_list_rules()
    elif export_name == "vitals":
        rules += _vital_rules()
    else:
        rules += _questionnaire_rules()
    return rules


def count_violations(
    con: duckdb.DuckDBPyConnection, relation: str, export_name: str, now: datetime | None = None,
) -> dict[str, int]:
    """Count rows breaking each row rule plus duplicate keys, in one aggregate query (`relation` has
    the export's text columns and `export_month`)."""
    exp = contract.export(export_name)
    rules = row_rules(export_name, now)
    counts = ", ".join(f"count_if({r.violation}) AS {q(r.name)}" for r in rules)
    row = con.execute(f"SELECT {counts} FROM {relation}").fetchone()
    result = {r.name: int(n) for r, n in zip(rules, row or (), strict=True)}
    key = ", ".join(f"trim({q(k)})" for k in exp.key)
    dup = con.execute(
        f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {relation} "
        f"GROUP BY {key} HAVING count(*) > 1)"
    ).fetchone()
    result["key.duplicate"] = int(dup[0]) if dup else 0
    return result
