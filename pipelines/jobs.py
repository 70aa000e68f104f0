"""Jobs: the main job materializes every asset for a range of export months in one run."""

from dagster import AssetSelection, define_asset_job

from pipelines.partitions import monthly_partitions

main_job = define_asset_job(
    "main",
    selection=AssetSelection.all(),
    partitions_def=monthly_partitions,
    description="Everything, landing to warehouse, for the months of the run's partition range "
    "(one run for a whole backfill).",
)
