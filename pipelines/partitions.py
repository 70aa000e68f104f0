"""The one partitioning of the project: export months."""

from __future__ import annotations

from dagster import MonthlyPartitionsDefinition

from pipelines.settings import first_month

# Keys look like "2025-03", the same text as the landing file names. end_offset=1 keeps the
# current month available, so an early export for it can still be loaded.
monthly_partitions = MonthlyPartitionsDefinition(start_date=first_month(), fmt="%Y-%m", end_offset=1)
