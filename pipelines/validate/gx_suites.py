"""Great Expectations suites built from the export contract, stored as JSON in `expectations/`.

One suite per export covers every contract rule of `pipelines.validate.rules` plus duplicate
keys and references to the sessions export. Each expectation carries a stable rule id in its
`meta` (`{"rule": "dose_mg.out_of_range", ...}`), the same id as the rule in rules.py and the
quarantine reason code, so GX counts line up with the pipeline's own counts.

The suites run against a batch of `raw.<export>` (every contract column as text) that also
exposes two derived columns per contract column (see `rules.derived_columns`):

- `<column>__text`: the trimmed text, NULL when empty (what "missing" means in the contract);
- `<column>__typed`: the text cast to the contract type, NULL when it cannot cast.

Native GX expectations run on those (not-null, in-set, between, unique, compound-unique).
Every other row rule (type casts, regex, per-measure and per-instrument ranges, month windows,
"not in the future") is a third kind of derived column, `<rule>__violated` (`flag_columns`): the
rule's own predicate from rules.py, over the typed columns, TRUE on a row that breaks it; its
expectation is that the column is null. GX folds all these column expectations into one
aggregate query over the batch, where an `UnexpectedRowsExpectation` per rule cost a query each
(issue #19: GX was 3.8x the same rules in plain SQL). References to another table (orphans)
stay `UnexpectedRowsExpectation`s. The SQL lives in rules.py alone: the stored suites name
columns, and the runner builds the batch (with "now") when it validates.

Regenerate the stored files after changing the contract or the rules:

    python -m pipelines.validate.gx_suites --write     (or --check to only compare)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe

from pipelines import contract
from pipelines.settings import PROJECT_ROOT
from pipelines.sql import q
from pipelines.validate.rules import Rule, over_derived, row_rules, text_column, typed, typed_column

SUITE_DIR: Path = PROJECT_ROOT / "expectations"
RAW_SCHEMA = "raw"

ROW_COUNT_RULE = "table.row_count"  # the batch's row count: element_count of the SQL expectations
DUPLICATE_RULE = "key.duplicate"  # same id as in rules.count_violations
FLAG_SUFFIX = "__violated"


def _escape_braces(sql: str) -> str:
    # GX substitutes `{batch}` with str.format: literal braces in a rule (a regex quantifier)
    # must be doubled.
    return sql.replace("{", "{{").replace("}", "}}")


def unexpected_rows_sql(where: str) -> str:
    """An unexpected-rows query over the batch: lineage columns only, never row values."""
    return f"SELECT export_month, line_number FROM {{batch}} WHERE {_escape_braces(where)}"


def flag_column(rule_name: str) -> str:
    """Batch column that is TRUE on a row breaking a rule of rules.py (NULL otherwise)."""
    return rule_name.replace(".", "__") + FLAG_SUFFIX


def flag_columns(export_name: str, now: datetime) -> dict[str, str]:
    """Alias -> SQL of the rule columns: each row rule without a native expectation, its predicate
    over the derived columns (rules.over_derived), TRUE when the row breaks it."""
    return {flag_column(rule.name): f"CASE WHEN {over_derived(export_name, rule.violation)} THEN true END"
            for rule in row_rules(export_name, now) if _native_expectation(rule) is None}


def _meta(rule: str, column: str | None, message: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"rule": rule}
    if column is not None:
        meta["column"] = column
    meta["message"] = message
    return meta


def _native_expectation(rule: Rule) -> gxe.Expectation | None:
    """The native GX expectation on a derived column that checks a rules.py rule, where GX counts
    it right; None for the rules checked through their rule column (flag_columns)."""
    exp = contract.export(rule.export)
    col = exp.column(rule.column)
    meta = _meta(rule.name, rule.column, rule.message)
    kind = rule.name.rsplit(".", 1)[1]
    if kind == "missing":
        return gxe.ExpectColumnValuesToNotBeNull(column=text_column(col.name), meta=meta)
    if kind == "not_allowed" and col.allowed is not None:
        return gxe.ExpectColumnValuesToBeInSet(
            column=text_column(col.name), value_set=list(col.allowed), meta=meta
        )
    if kind == "out_of_range" and (col.min is not None or col.max is not None):
        # A column-level range from the contract (questionnaires' value.out_of_range is per
        # instrument and has no column range: it is a rule column).
        return gxe.ExpectColumnValuesToBeBetween(
            column=typed_column(col.name), min_value=col.min, max_value=col.max,
            strict_min=col.min_exclusive, meta=meta,
        )
    return None


def _rule_expectation(rule: Rule) -> gxe.Expectation:
    """The expectation checking one rules.py rule: native where GX counts it right, else that the
    rule's column (flag_columns) is null."""
    return _native_expectation(rule) or gxe.ExpectColumnValuesToBeNull(
        column=flag_column(rule.name), meta=_meta(rule.name, rule.column, rule.message))


def _present_not_in(column: contract.Column, table: str, target: contract.Column) -> str:
    """The column is given and its trimmed text is not among `target`'s values in `table`."""
    mine, theirs = typed(dataclasses.replace(column, dtype="VARCHAR")), typed(target)
    return (f"{mine} IS NOT NULL AND {mine} NOT IN "
            f"(SELECT {theirs} FROM {table} WHERE {theirs} IS NOT NULL)")


def _orphan_expectations(export_name: str) -> list[gxe.Expectation]:
    """References to the sessions export (all months of raw.sessions)."""
    sessions = contract.SESSIONS
    table = f"{RAW_SCHEMA}.{q(sessions.name)}"
    exp = contract.export(export_name)
    refs: list[tuple[str, str]] = []
    if export_name == "vitals":
        refs = [("session_id", "session_id")]
    elif export_name == "questionnaires":
        refs = [("patient_id", "patient_id"), ("session_id", "session_id")]
    out: list[gxe.Expectation] = []
    for mine, theirs in refs:
        where = _present_not_in(exp.column(mine), table, sessions.column(theirs))
        out.append(gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=unexpected_rows_sql(where),
            meta=_meta(f"{mine}.orphan", mine, f"{mine} does not refer to a {theirs} in the sessions export"),
        ))
    return out


def _key_expectation(export_name: str) -> gxe.Expectation:
    exp = contract.export(export_name)
    message = f"({', '.join(exp.key)}) is not unique"
    if len(exp.key) == 1:
        return gxe.ExpectColumnValuesToBeUnique(
            column=text_column(exp.key[0]), meta=_meta(DUPLICATE_RULE, exp.key[0], message)
        )
    return gxe.ExpectCompoundColumnsToBeUnique(
        column_list=[text_column(k) for k in exp.key], meta=_meta(DUPLICATE_RULE, None, message)
    )


def build_suite(export_name: str) -> gx.ExpectationSuite:
    """The suite of one export, derived from the contract and the rules in rules.py."""
    contract.export(export_name)
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=0, meta=_meta(ROW_COUNT_RULE, None, "rows in the validated month(s)")
        ),
    ]
    expectations += [_rule_expectation(r) for r in row_rules(export_name)]
    expectations.append(_key_expectation(export_name))
    expectations += _orphan_expectations(export_name)
    return gx.ExpectationSuite(
        name=f"{export_name}_contract",
        expectations=expectations,
        meta={
            "export": export_name,
            "generated_by": "python -m pipelines.validate.gx_suites --write",
            "batch": f"{RAW_SCHEMA}.{export_name} restricted to the validated export_month(s), "
                     "with the derived columns of rules.derived_columns and the rule columns of "
                     "gx_suites.flag_columns",
        },
    )


def suite_json(export_name: str) -> str:
    """The canonical JSON text of a suite as stored in `expectations/<export>.json`."""
    return json.dumps(build_suite(export_name).to_json_dict(), indent=2, sort_keys=True) + "\n"


def suite_path(export_name: str, directory: Path = SUITE_DIR) -> Path:
    return directory / f"{export_name}.json"


def write_suites(directory: Path = SUITE_DIR) -> list[Path]:
    """(Re)write every export's suite JSON; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in contract.EXPORTS:
        path = suite_path(name, directory)
        path.write_text(suite_json(name), encoding="utf-8")
        paths.append(path)
    return paths


def stale_suites(directory: Path = SUITE_DIR) -> list[str]:
    """Exports whose stored suite JSON is missing or differs from what the code builds."""
    stale = []
    for name in contract.EXPORTS:
        path = suite_path(name, directory)
        if not path.exists() or path.read_text(encoding="utf-8") != suite_json(name):
            stale.append(name)
    return stale


def load_suite(export_name: str, directory: Path = SUITE_DIR) -> gx.ExpectationSuite:
    """The stored suite of one export, read from its JSON file."""
    path = suite_path(contract.export(export_name).name, directory)
    return gx.ExpectationSuite(**json.loads(path.read_text(encoding="utf-8")))


def check_months(months: Sequence[str]) -> tuple[str, ...]:
    """Validated, de-duplicated, sorted YYYY-MM months (they end up in SQL text)."""
    if isinstance(months, str):
        months = (months,)
    out = tuple(sorted(set(months)))
    if not out:
        raise ValueError("at least one month is required")
    bad = [m for m in out if not isinstance(m, str) or not contract.MONTH_RE.match(m)]
    if bad:
        raise ValueError(f"months must be YYYY-MM, got {bad!r}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=SUITE_DIR, help="folder of the suite JSON files")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the suites")
    mode.add_argument("--check", action="store_true", help="exit 1 if a stored suite differs from the code")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_suites(args.dir):
            print(f"wrote {path}")
        return 0
    stale = stale_suites(args.dir)
    for name in stale:
        print(f"{suite_path(name, args.dir)} differs from the code: run with --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
