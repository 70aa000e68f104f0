"""The one partitioning of the project: export months."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from dagster import MonthlyPartitionsDefinition, PartitionKeyRange
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from pipelines.settings import ENV_FIRST_MONTH, first_month

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


def current_month(now: datetime | None = None) -> str:
    """This month (UTC), the last one a delivery may be for (partitions end here, end_offset=1)."""
    return (now or datetime.now(UTC)).strftime("%Y-%m")


def outside_partitions(months: Iterable[str], now: datetime | None = None) -> tuple[list[str], list[str]]:
    """The delivered months the partitions can hold, and one line for each block that they cannot.

    Any past month is a valid delivery; until partitions follow the delivered months (the
    operators' UI issue), a month before OUTCOMES_FIRST_MONTH needs that setting moved. A month
    after the current one is not a delivery but a mistake (a typo in a file name, a clock).
    """
    first, last = first_month(), current_month(now)
    months = sorted(set(months))
    early = [m for m in months if m < first]
    future = [m for m in months if m > last]
    problems = []
    if early:
        problems.append(f"exports for {_span(early)} are before the first partition month {first}: set "
                        f"{ENV_FIRST_MONTH}={early[0]} (or earlier) to build them")
    if future:
        problems.append(f"exports for {_span(future)} are for months after the current one ({last}): "
                        "rename or remove them (an export is for a past or the current month)")
    return [m for m in months if first <= m <= last], problems


def _span(months: list[str]) -> str:
    return months[0] if len(months) == 1 else f"{months[0]} .. {months[-1]} ({len(months)} months)"
