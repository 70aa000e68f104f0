"""The export contract: docs equal code, valid rows pass, and every rule has a failing example."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines import contract
from pipelines.contract_doc import render_markdown
from pipelines.validate.rules import count_violations, row_rules
from tests.contract_examples import ALSO_BROKEN, BREAKS, MONTH, NOW, VALID, write_csv

ROOT = Path(__file__).resolve().parents[1]
def violations(tmp_path: Path, export_name: str, rows: list[dict[str, str]]) -> dict[str, int]:
    path = write_csv(tmp_path / contract.file_name(export_name, MONTH), export_name, rows)
    con = duckdb.connect()
    relation = f"(SELECT *, '{MONTH}' AS export_month FROM read_csv('{path}', all_varchar=true, header=true))"
    return {k: v for k, v in count_violations(con, relation, export_name, NOW).items() if v}


def test_docs_match_code() -> None:
    doc = (ROOT / "docs" / "export-contract.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "run `outcomes contract --write docs/export-contract.md`"


@pytest.mark.parametrize("export_name", contract.EXPORTS)
def test_valid_rows_pass(tmp_path: Path, export_name: str) -> None:
    assert violations(tmp_path, export_name, [VALID[export_name]]) == {}


def test_every_rule_has_a_failing_example() -> None:
    rules = {(e, r.name) for e in contract.EXPORTS for r in row_rules(e, NOW)}
    assert rules == set(BREAKS), "add a failing example for each new rule (or drop the stale one)"


@pytest.mark.parametrize(("export_name", "rule"), sorted(BREAKS), ids=lambda v: str(v))
def test_each_rule_catches_its_example(tmp_path: Path, export_name: str, rule: str) -> None:
    broken = {**VALID[export_name], **BREAKS[(export_name, rule)]}
    got = violations(tmp_path, export_name, [broken])
    assert got == {name: 1 for name in {rule} | ALSO_BROKEN.get((export_name, rule), set())}


@pytest.mark.parametrize("export_name", contract.EXPORTS)
def test_duplicate_key_is_counted(tmp_path: Path, export_name: str) -> None:
    changed = {"sessions": {"dose_mg": "41"}, "vitals": {"value": "131"}, "questionnaires": {"value": "3"}}
    rows = [VALID[export_name], {**VALID[export_name], **changed[export_name]}, VALID[export_name]]
    assert violations(tmp_path, export_name, rows) == {"key.duplicate": 3}


def test_measure_loinc_codes_are_accepted(tmp_path: Path) -> None:
    rows = [
        {**VALID["vitals"], "measure": code, "unit": m.unit,
         "value": str(m.plausible_max), "measured_at": f"2025-03-14T09:{i:02d}:00"}
        for i, (code, m) in enumerate(contract.VITAL_BY_CODE.items())
    ]
    assert violations(tmp_path, "vitals", rows) == {}


def test_file_names_follow_the_contract() -> None:
    assert contract.FILE_NAME_RE.match("vitals_2025-03.csv.gz")
    assert contract.FILE_NAME_RE.match("questionnaires_2025-12.parquet")
    assert not contract.FILE_NAME_RE.match("vitals_2025-13.csv")
    assert not contract.FILE_NAME_RE.match("vitals_2025-03.xlsx")
    assert not contract.FILE_NAME_RE.match("Vitals_2025-03.csv")


@pytest.mark.parametrize("text", ["nan", "inf", "1e3", "1,5", "40 mg", "0x10", "--1"])
def test_numbers_must_be_plain_decimals(tmp_path: Path, text: str) -> None:
    got = violations(tmp_path, "sessions", [{**VALID["sessions"], "dose_mg": text}])
    assert got == {"dose_mg.wrong_type": 1}
