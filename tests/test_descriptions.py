"""What readers see of the models and seeds says things in words: no issue numbers, no file names.

Descriptions reach the published file (reference.rules), the report (seed sources in Methods) and
the documentation a quality team browses; "issue #4" or "macros/refresh_months.sql" means nothing
there. YAML comments and SQL comments, for developers, may name files.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

import yaml

from pipelines.settings import PROJECT_ROOT

DBT = PROJECT_ROOT / "dbt"
INTERNAL = re.compile(r"issues? #\d+|\b[\w./-]+\.(?:sql|py|md|yml|yaml|csv|j2)\b"
                      r"|\b(?:pipelines|macros|tests)/", re.I)


def _descriptions(node: object, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                yield where, value
            else:
                name = node.get("name", "") if isinstance(node, dict) else ""
                yield from _descriptions(value, f"{where}/{name}" if name else where)
    elif isinstance(node, list):
        for item in node:
            yield from _descriptions(item, where)


def _texts() -> Iterator[tuple[str, str]]:
    for path in sorted([*DBT.glob("models/**/_*__models.yml"), DBT / "seeds" / "_seeds.yml"]):
        yield from _descriptions(yaml.safe_load(path.read_text()), path.name)
    for path in sorted((DBT / "seeds").glob("*.csv")):
        with path.open(newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                for column in ("description", "source", "label", "comparable_as", "population", "note"):
                    if row.get(column):
                        yield f"{path.name}:{line}:{column}", row[column]
    rules = (DBT / "models" / "reference" / "reference_rules.sql").read_text()
    for rule, text in re.findall(r"'(\w+)': \"(.*?)\"", rules, re.S):
        yield f"reference.rules {rule}", text


def test_descriptions_and_seed_texts_name_no_issue_and_no_file() -> None:
    found = [f"{where}: {match.group(0)!r}" for where, text in _texts()
             for match in [INTERNAL.search(" ".join(text.split()))] if match]
    assert not found, "\n".join(found)
