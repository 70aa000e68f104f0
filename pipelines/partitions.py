"""The one partitioning of the project: export months."""

from __future__ import annotations

from collections.abc import Mapping

from dagster import MonthlyPartitionsDefinition, PartitionKeyRange
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from pipelines.settings import first_month

# Keys look like "2025-03", the same text as the landing file names. end_offset=1 keeps the
# current month available, so an early export for it can still be loaded.
monthly_partitions = MonthlyPartitionsDefinition(start_date=first_month(), fmt="%Y-%m", end_offset=1)


def run_months(tags: Mapping[str, str]) -> list[str]:
    """The export months a run was launched for, from its tags (one partition, or a range).

    Unpartitioned assets (the published file) have no partition keys of their own, but they
    record which months the run built.
    """
    if PARTITION_NAME_TAG in tags:
        return [tags[PARTITION_NAME_TAG]]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return monthly_partitions.get_partition_keys_in_range(PartitionKeyRange(start, end))
    return []
