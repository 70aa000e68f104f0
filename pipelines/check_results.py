"""Check results per partition, in runs of many months (issue #16, item 3).

A check written as one `AssetCheckResult` in a run of a partition range is recorded once,
unpartitioned, and every partition of the range shows the check as skipped: a clean build
looked red. Dagster records an `AssetCheckEvaluation` that names its partition; the step
still owes the check's output, which `evaluations` yields last. Blocking checks keep blocking:
a failed evaluation with ERROR severity stops everything downstream of the step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetCheckEvaluation, AssetCheckKey, AssetCheckSeverity, MetadataValue, Output


def evaluations(
    check: AssetCheckKey,
    outputs: Mapping[str, Any],  # an assets or checks definition's check_specs_by_output_name
    by_partition: Mapping[str, tuple[bool, Mapping[str, MetadataValue]]],
    severity: AssetCheckSeverity,
    blocking: bool,
) -> Iterator[AssetCheckEvaluation | Output]:
    """One evaluation per partition (passed, metadata), then the check's own output."""
    for partition, (passed, metadata) in sorted(by_partition.items()):
        yield AssetCheckEvaluation(asset_key=check.asset_key, check_name=check.name, passed=passed,
                                   metadata=dict(metadata), partition=partition, severity=severity,
                                   blocking=blocking)
    name = next(n for n, spec in outputs.items() if spec.key == check)
    yield Output(None, output_name=name)
