"""Runs that `outcomes run` makes are runs of the code location the UI shows (issue #16).

`JobDefinition.execute_in_process` records a run with no origin: the UI's timeline and the
job's history leave it out (they list runs by the `.dagster/repository` label of their code
location) and re-execution warns. Here the run is created the way the UI and `dagster job
launch` create one (the job's snapshot, execution plan and remote origin from the code
location, loaded in this process under the name `dagster dev -m pipelines.definitions` gives
it), then executed in the foreground in this process, so the CLI keeps its progress lines,
log file and summary.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import DagsterInstance
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._utils.hosted_user_process import recon_job_from_origin

from pipelines.settings import PROJECT_ROOT

DEFINITIONS_MODULE = "pipelines.definitions"  # `dagster dev -m` names the code location after it
LOCATION_NAME = DEFINITIONS_MODULE
MAIN_JOB = "main"


@contextmanager
def _location(instance: DagsterInstance) -> Iterator[Any]:
    target = LoadableTargetOrigin(executable_path=sys.executable, module_name=DEFINITIONS_MODULE,
                                  working_directory=os.fspath(PROJECT_ROOT))
    origin = InProcessCodeLocationOrigin(target, location_name=LOCATION_NAME)
    with origin.create_location(instance) as location:
        yield location


def run_main_job_here(instance: DagsterInstance, run_id: str, tags: Mapping[str, str],
                      run_config: Mapping[str, Any]) -> JobExecutionResult:
    """Create a run of the main job with the code location's origin, then execute it in this process."""
    with _location(instance) as location:
        repository = next(iter(location.get_repositories().values()))
        job = location.get_job(JobSubsetSelector(location_name=location.name, repository_name=repository.name,
                                                 job_name=MAIN_JOB, op_selection=None))
        plan = location.get_execution_plan(job, run_config, step_keys_to_execute=None, known_state=None,
                                           instance=instance)
        run = instance.create_run(
            job_name=MAIN_JOB, run_id=run_id, run_config=run_config, resolved_op_selection=None,
            step_keys_to_execute=None, op_selection=None, status=None, root_run_id=None, parent_run_id=None,
            tags={**job.tags, **tags}, job_snapshot=job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot, parent_job_snapshot=job.parent_job_snapshot,
            remote_job_origin=job.get_remote_origin(), job_code_origin=job.get_python_origin(),
            asset_selection=None, asset_check_selection=None, asset_graph=repository.asset_graph,
        )
        # ReconstructableJob keeps its last definitions in a class-wide lru_cache keyed by the job's
        # origin, which is the same for every run of this process: a second run (the test suite
        # makes many) would execute the first run's definitions, with the first run's folders.
        ReconstructableJob.get_definition.cache_clear()
        ReconstructableJob.get_repository_definition.cache_clear()
        return execute_run(recon_job_from_origin(job.get_python_origin()), run, instance)
