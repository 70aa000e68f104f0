"""Compare two published files cell by cell: python -m tests.compare_published BEFORE AFTER.

Every table must be in both with the same columns and rows, compared by
tests.pipeline_processes.content (the digest the fault tests compare builds with: row order
ignored, doubles to 9 decimals, meta.build and the data_quality timestamps left out). Used
to show that a refactor changed no published number (issue #11).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.pipeline_processes import content


def differences(before: Path, after: Path) -> list[str]:
    """One line per table that differs; empty when the two files publish the same cells."""
    old, new = content(before), content(after)
    return [f"{table}: " + ("only before" if table not in new else "only after" if table not in old
                            else f"{old[table][0]} rows before, {new[table][0]} after, contents differ")
            for table in sorted(old.keys() | new.keys()) if old.get(table) != new.get(table)]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.compare_published BEFORE.duckdb AFTER.duckdb")
        return 2
    found = differences(Path(argv[0]), Path(argv[1]))
    print("\n".join(found) or "the same cells in every published table")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
