"""Validate stage: typed staging tables, quarantine and accounting, GX suites, the staging lake.

Great Expectations imports pyspark's Spark Connect client whenever pyspark is installed (it is,
for the Spark engine: docs/scale-out.md), and that import ends the process, with exit code 0,
when the main module has no file and pyarrow is missing: pyspark takes the process for a doctest
run. Dagster's step processes (started by a forkserver) are such processes, so every run launched
from the UI, a schedule or a sensor died in its first validate step. Nothing in this process uses
Spark Connect (dbt runs Spark in its own process): the package is marked absent before GX is
imported, and GX's import of it fails with the ImportError GX expects.
"""

import sys

sys.modules.setdefault("pyspark.sql.connect", None)  # type: ignore[arg-type]
