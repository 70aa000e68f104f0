"""The one partitioning of the project: export months, the months that were delivered.

The partitions are dynamic (issue #16): a month becomes a partition when its files are first
seen (`outcomes run`, the landing sensor, the monthly schedule), so a complete build shows every
partition materialized, and a late delivery of an older month is a new partition, never an
error. Dagster orders dynamic partitions as they were added and resolves a run's range in that
order, so `register_months` keeps them in month order: an older month added later is placed
before the ones that follow it (their keys are removed and added again after it; their
materializations are recorded by key and stay theirs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from dagster import DagsterInstance, DynamicPartitionsDefinition

# The run tags that carry a run's partition range or partition. Dagster exports them only from a
# private module; this is the one place that imports them (the sensor, the CLI run and the tests
# take them from here), so a move in a Dagster release is one line to change.
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

__all__ = ["ASSET_PARTITION_RANGE_END_TAG", "ASSET_PARTITION_RANGE_START_TAG", "PARTITION_NAME_TAG"]

EXPORT_MONTHS = "export_months"
# Keys look like "2025-03", the same text as the landing file names.
monthly_partitions = DynamicPartitionsDefinition(name=EXPORT_MONTHS)


def registration(existing: Sequence[str], delivered: Iterable[str]) -> tuple[list[str], list[str]]:
    """(keys to delete, keys to add) that make the partitions existing + delivered, in month order."""
    new = sorted(set(delivered) - set(existing))
    if not new:
        return [], []
    later = [key for key in existing if key > new[0]]  # re-added after the older month
    return later, sorted({*new, *later})


def register_months(instance: DagsterInstance, months: Iterable[str]) -> list[str]:
    """Make every month of `months` a partition, keeping month order; returns the months added."""
    delete, add = registration(instance.get_dynamic_partitions(EXPORT_MONTHS), months)
    for key in delete:
        instance.delete_dynamic_partition(EXPORT_MONTHS, key)
    if add:
        instance.add_dynamic_partitions(EXPORT_MONTHS, add)
    return [key for key in add if key not in delete]


def run_months(tags: Mapping[str, str], instance: DagsterInstance) -> list[str]:
    """The export months a run was launched for, from its tags (one partition, or a range).

    Unpartitioned assets (the published file) have no partition keys of their own, but they
    record which months the run built.
    """
    if PARTITION_NAME_TAG in tags:
        return [tags[PARTITION_NAME_TAG]]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return sorted(key for key in instance.get_dynamic_partitions(EXPORT_MONTHS) if start <= key <= end)
    return []


def current_month(now: datetime | None = None) -> str:
    """This month (UTC), the last one a delivery may be for."""
    return (now or datetime.now(UTC)).strftime("%Y-%m")


def future_months(months: Iterable[str], now: datetime | None = None) -> tuple[list[str], list[str]]:
    """The delivered months that can be partitions, and one line for the months that cannot.

    Any past month is a valid delivery. A month after the current one is not a delivery but a
    mistake (a typo in a file name, a wrong clock).
    """
    last = current_month(now)
    months = sorted(set(months))
    future = [m for m in months if m > last]
    counted = f" ({len(future)} months)" if len(future) > 1 else ""
    problems = [f"exports for {month_span(future)}{counted} are for months after the current one ({last}): "
                "rename or remove them (an export is for a past or the current month)"] if future else []
    return [m for m in months if m <= last], problems


def listed_months(months: Sequence[str]) -> str:
    """Sorted months for a log line: up to three named ('2025-01, 2025-03'), more as a span
    ('2025-01..2025-12'); 'none' for none. Unlike month_span, a gap among few months shows."""
    if not months:
        return "none"
    return f"{months[0]}..{months[-1]}" if len(months) > 3 else ", ".join(months)


def month_span(months: Sequence[str]) -> str:
    """'2025-03', or '2025-01 .. 2025-06' for sorted months; 'none' for none."""
    if not months:
        return "none"
    return months[0] if len(months) == 1 else f"{months[0]} .. {months[-1]}"
