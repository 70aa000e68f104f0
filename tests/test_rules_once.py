"""Rules once (issue #17, item 1): what the export contract (pipelines/contract.py) and the dbt seeds
both know must agree, so a change made in one place and not the other fails here, not in a build.
(Session statuses: tests/test_dbt_models.py, on the built seed.)"""

from __future__ import annotations

import csv

import pytest

from pipelines import contract
from pipelines.publish.report.data import RULES
from pipelines.settings import PROJECT_ROOT
from pipelines.transform.project import dbt_var

SEEDS = PROJECT_ROOT / "dbt" / "seeds"


def seed(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_instruments_agree() -> None:
    in_seed = {r["instrument"]: (int(r["n_items"]), int(r["item_min"]), int(r["item_max"]), r["label"])
               for r in seed("instruments")}
    in_contract = {i.name: (i.n_items, i.item_min, i.item_max, i.label) for i in contract.INSTRUMENTS}
    assert in_seed == in_contract


def test_reported_adverse_event_terms_agree() -> None:
    reported = {r["ae_term"] for r in seed("ae_terms") if r["is_reported_term"] == "true"}
    assert reported == set(contract.AE_TERMS)


def test_vital_codes_units_and_labels_agree() -> None:
    in_seed = {(r["code"], r["measure"], r["code_system"], r["unit"], r["label"])
               for r in seed("measure_codes")}
    in_contract = {(code, m.name, "LOINC" if code in m.loinc else "name", m.unit, m.label)
                   for m in contract.VITAL_MEASURES for code in (m.name, *m.loinc)}
    assert in_seed == in_contract


@pytest.mark.parametrize("rule", sorted(set(RULES.values())))
def test_every_rule_the_report_reads_is_a_dbt_var(rule: str) -> None:
    assert isinstance(dbt_var(rule), int | float)

