"""Benchmarks of the pipeline, measured in one process run so that figures compare as ratios.

The machine the project runs on is small and shared, so absolute seconds drift from run to
run; every target is therefore a ratio of two figures measured in the same command:

- `month` (`pipelines.tools.bench.month`): one export month, floor vs ingest vs validate vs GX,
  in-process, for quick before/after comparisons while optimising one stage;
- `network` (`pipelines.tools.bench.network`): the whole clinic network through the real Dagster
  run (cold build, then one new month as the landing sensor would request it), against the
  floor of plain DuckDB `read_csv`, with per-stage time and memory from the run's event log,
  GX against the same rules as plain SQL, and a verdict per performance target.

`python -m pipelines.benchmark` is the command line of both; `make bench` runs `network`.
"""
