"""The Ax Scheduler tutorial's mock job queue, run with bo-scheduler.

A toy "external system" (an in-memory job queue) evaluates Branin; a Runner
deploys trials to it and polls job states, a Metric reads finished jobs'
values. The scheduler then:

1. runs 3 trials, then 3 more (6 in all; the 6th comes from the model step),
2. runs again with a tiny timeout, which ends the call early without an error,
3. runs a fresh experiment with a `report_results` subclass through
   `run_trials_and_yield_results`, printing each report as trials complete.

Run it with `python examples/mock_job_queue.py` (a few seconds).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from scheduler import (
    Data,
    Err,
    Experiment,
    Metric,
    MetricFetchE,
    MetricFetchResult,
    Objective,
    Ok,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Runner,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
    Trial,
    TrialStatus,
    choose_generation_strategy,
    exp_to_df,
)


def branin(x1: float, x2: float) -> float:
    """The Branin function; its minimum, about 0.398, is reached at three points."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


# -- the "external system" -----------------------------------------------------
@dataclass(frozen=True)
class MockJob:
    """A job on the queue: an id and the parameters to evaluate."""

    id: int
    parameters: dict[str, Any]


class MockJobQueueClient:
    """An in-memory job queue standing in for a cluster, a simulator, a lab..."""

    def __init__(self, seed: int = 0) -> None:
        self.jobs: dict[int, MockJob] = {}
        self._next_id = itertools.count(1)
        self._random = random.Random(seed)

    def schedule_job_with_parameters(self, parameters: dict[str, Any]) -> int:
        """Queue a job and return its id (a real system would return its own id)."""
        job = MockJob(next(self._next_id), dict(parameters))
        self.jobs[job.id] = job
        return job.id

    def get_job_status(self, job_id: int) -> TrialStatus:
        """A real client would ask the system; here a job finishes 3 times in 4."""
        if job_id not in self.jobs:
            raise KeyError(f"unknown job {job_id}")
        return TrialStatus.COMPLETED if self._random.random() < 0.75 else TrialStatus.RUNNING

    def get_outcome_value_for_completed_job(self, job_id: int) -> dict[str, float]:
        parameters = self.jobs[job_id].parameters
        return {"branin": branin(parameters["x1"], parameters["x2"])}


MOCK_JOB_QUEUE_CLIENT = MockJobQueueClient()


def get_mock_job_queue_client() -> MockJobQueueClient:
    """The one queue every runner and metric of this example talks to."""
    return MOCK_JOB_QUEUE_CLIENT


# -- the runner and the metric -----------------------------------------------------
class MockJobRunner(Runner):
    """Deploys a trial as a job; its run metadata is the job id."""

    def run(self, trial: Trial) -> dict[str, Any]:
        job_id = get_mock_job_queue_client().schedule_job_with_parameters(trial.arm.parameters)
        return {"job_id": job_id}  # stored on the trial as trial.run_metadata

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        """One poll of every trial still out; no waiting here, the scheduler waits."""
        client = get_mock_job_queue_client()
        by_status: dict[TrialStatus, set[int]] = defaultdict(set)
        for trial in trials:
            by_status[client.get_job_status(trial.run_metadata["job_id"])].add(trial.index)
        return by_status


class BraninForMockJobMetric(Metric):
    """Reads the Branin value of a finished job."""

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        try:
            values = get_mock_job_queue_client().get_outcome_value_for_completed_job(
                trial.run_metadata["job_id"]
            )
        except Exception as exc:  # report why instead of raising
            return Err(MetricFetchE(message=f"Failed to fetch {self.name}", exception=exc))
        row = {
            "trial_index": trial.index,
            "metric_name": self.name,
            "arm_name": trial.arm.name,
            "mean": values[self.name],
            "sem": None,  # unknown noise; 0.0 would mean noiseless
        }
        return Ok(Data(df=pd.DataFrame.from_records([row])))


def make_branin_experiment_with_runner_and_metric() -> Experiment:
    search_space = SearchSpace(
        parameters=[
            RangeParameter(name="x1", parameter_type=ParameterType.FLOAT, lower=-5, upper=10),
            RangeParameter(name="x2", parameter_type=ParameterType.FLOAT, lower=0, upper=15),
        ]
    )
    objective = Objective(metric=BraninForMockJobMetric(name="branin"), minimize=True)
    return Experiment(
        name="branin_test_experiment",
        search_space=search_space,
        optimization_config=OptimizationConfig(objective=objective),
        runner=MockJobRunner(),
        is_test=True,
    )


#: Poll often: the mock jobs take no time. Real systems want seconds or minutes.
OPTIONS = SchedulerOptions(
    init_seconds_between_polls=0.01,
    min_seconds_before_poll=0.0,
    max_seconds_between_polls=0.1,
)


def best_so_far(experiment: Experiment) -> list[float]:
    """The text version of the tutorial's trace plot: best Branin value per trial."""
    best, trace = math.inf, []
    for trial in experiment.trials.values():
        value = trial.objective_mean
        if value is not None:
            best = min(best, value)
        trace.append(round(best, 3))
    return trace


class ResultReportingScheduler(Scheduler):
    """Reports progress each time trials complete (e.g. to a dashboard)."""

    def report_results(self, force_refit: bool = False) -> tuple[bool, dict[str, Any]]:
        return True, {
            "trials so far": len(self.experiment.trials),
            "currently producing trials from generation step": (
                self.generation_strategy._curr.model_name
            ),
            "running trials": [t.index for t in self.running_trials],
        }


def main() -> None:
    pd.set_option("display.width", 120)
    experiment = make_branin_experiment_with_runner_and_metric()
    generation_strategy = choose_generation_strategy(
        search_space=experiment.search_space, max_parallelism_cap=3, random_seed=0
    )
    scheduler = Scheduler(
        experiment=experiment, generation_strategy=generation_strategy, options=OPTIONS
    )

    scheduler.run_n_trials(max_trials=3)
    print(f"after the first run: {len(experiment.trials)} trials")
    print("best so far:", best_so_far(experiment))
    print(exp_to_df(experiment).to_string(index=False))

    scheduler.run_n_trials(max_trials=3)
    print(f"after the second run: {len(experiment.trials)} trials")
    print("best so far:", best_so_far(experiment))
    print(exp_to_df(experiment).to_string(index=False))

    summary = scheduler.run_n_trials(max_trials=3, timeout_hours=0.00001)
    print(
        f"after the timed-out run: {len(experiment.trials)} trials, "
        f"by status {summary['trials_by_status']}"
    )
    print("best so far:", best_so_far(experiment))

    fresh = make_branin_experiment_with_runner_and_metric()
    reporting = ResultReportingScheduler(
        experiment=fresh,
        generation_strategy=choose_generation_strategy(
            search_space=fresh.search_space, max_parallelism_cap=3, random_seed=0
        ),
        options=OPTIONS,
    )
    for reported_result in reporting.run_trials_and_yield_results(max_trials=6):
        print("Reported result:", reported_result)
    print(f"reporting run: {len(fresh.trials)} trials")
    best = reporting.get_best_trial()
    if best is not None:
        index, parameters, values = best
        print(f"best trial: {index} {parameters} branin={values['branin']:.3f}")


if __name__ == "__main__":
    main()
