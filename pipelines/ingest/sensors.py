"""The landing sensor: new or changed export files request runs for exactly the months they touch."""

import hashlib
import json
from collections.abc import Iterator

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from pipelines.ingest.discover import discover
from pipelines.jobs import main_job
from pipelines.partitions import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    future_months,
    register_months,
)
from pipelines.resources import Folders
from pipelines.run import fail_orphaned_runs


def month_ranges(months: list[str]) -> list[tuple[str, str]]:
    """Group sorted YYYY-MM months into contiguous (first, last) ranges."""
    ranges: list[tuple[str, str]] = []
    for month in sorted(months):
        year, mon = (int(p) for p in month.split("-"))
        if ranges:
            first, last = ranges[-1]
            ly, lm = (int(p) for p in last.split("-"))
            if (ly * 12 + lm) + 1 == year * 12 + mon:
                ranges[-1] = (first, month)
                continue
        ranges.append((month, month))
    return ranges


@sensor(
    job=main_job,
    minimum_interval_seconds=60,
    description="Watches `landing/<export>/` for new or changed files (by size and modification time) "
    "and requests one run per contiguous block of touched months; the cursor keeps what was seen.",
)
def landing_sensor(context: SensorEvaluationContext, folders: Folders) -> Iterator[RunRequest | SkipReason]:
    # A run whose `outcomes run` process was killed stays STARTED and would hold the run queue (one run
    # at a time) for ever: marked failed here too, not only by the next `outcomes run`.
    for run_id in fail_orphaned_runs(context.instance):
        context.log.warning(f"marked run {run_id} failed: its outcomes run process is gone")
    seen: dict[str, list[int]] = json.loads(context.cursor) if context.cursor else {}
    found = discover(folders.landing_path)
    current = {str(f.path): [f.path.stat().st_size, f.path.stat().st_mtime_ns] for f in found.files}
    changed, problems = future_months(
        {f.month for f in found.files if seen.get(str(f.path)) != current[str(f.path)]})
    for problem in problems:
        context.log.error(problem)
    added = register_months(context.instance, changed)  # a new month becomes a partition first
    if added:
        context.log.info(f"new partitions: {', '.join(added)}")
    if not changed:
        yield SkipReason(f"no new or changed files among {len(current)} in {folders.landing_path}")
        return
    for first, last in month_ranges(changed):
        stamp = "|".join(f"{f.path}:{current[str(f.path)]}" for f in found.files if first <= f.month <= last)
        digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]  # stable across processes, unlike hash()
        yield RunRequest(
            run_key=f"landing:{first}:{last}:{digest}",
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last,
                  "outcomes/trigger": "landing_sensor"},
        )
    context.update_cursor(json.dumps(current, sort_keys=True))
