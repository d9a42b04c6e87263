"""The weekly training job (`ml_training`): how its three model assets share two cores."""

from __future__ import annotations

from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.retries import RetryMode

from analytics_platform.assets.recommendations import BUDGET_KEY, INACTIVITY_KEY, TRAINING_LANES
from analytics_platform.definitions import defs


def test_the_training_job_runs_two_models_at_a_time_budget_first():
    job = defs.resolve_job_def("ml_training")
    executor_config = job.executor_def.apply_config_mapping({}).value
    assert executor_config["config"]["max_concurrent"] == TRAINING_LANES == 2
    plan = create_execution_plan(job)
    # The steps the executor starts first when two may run (the plan is not executed:
    # its context manager's exit would complain about the steps left in flight).
    active = plan.start(retry_mode=RetryMode.DISABLED).__enter__()
    first = {step.key for step in active.get_steps_to_execute(limit=TRAINING_LANES)}
    assert first == {
        "__".join(BUDGET_KEY.path),
        "__".join(INACTIVITY_KEY.path),
    }
