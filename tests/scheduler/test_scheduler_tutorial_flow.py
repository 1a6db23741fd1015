"""The Ax Scheduler tutorial's flow, with a runner and metric written as it shows them."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple, TypedDict, cast

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
from tests.scheduler.fake_queue import FakeClock


class Job(NamedTuple):
    id: int
    parameters: dict[str, Any]


class JobQueueClient:
    """Like the tutorial's mock client, but a job completes on its 2nd status check."""

    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.checks: dict[int, int] = defaultdict(int)
        self._ids = itertools.count(1)

    def schedule_job_with_parameters(self, parameters: dict[str, Any]) -> int:
        job_id = next(self._ids)
        self.jobs[job_id] = Job(job_id, parameters)
        return job_id

    def get_job_status(self, job_id: int) -> TrialStatus:
        self.checks[job_id] += 1
        return TrialStatus.COMPLETED if self.checks[job_id] >= 2 else TrialStatus.RUNNING

    def get_outcome_value_for_completed_job(self, job_id: int) -> dict[str, float]:
        p = self.jobs[job_id].parameters
        return {"branin": (p["x1"] - 2.5) ** 2 + (p["x2"] - 7.5) ** 2}


class JobRunner(Runner):
    def __init__(self, client: JobQueueClient) -> None:
        self.client = client

    def run(self, trial: Trial) -> dict[str, Any]:
        return {"job_id": self.client.schedule_job_with_parameters(trial.arm.parameters)}

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        status_dict: dict[TrialStatus, set[int]] = defaultdict(set)
        for trial in trials:
            # cast: `run` stored the int job id under "job_id"
            status = self.client.get_job_status(cast(int, trial.run_metadata.get("job_id")))
            status_dict[status].add(trial.index)
        return status_dict


class BraninJobMetric(Metric):
    def __init__(self, name: str, client: JobQueueClient) -> None:
        super().__init__(name)
        self.client = client

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        try:
            values = self.client.get_outcome_value_for_completed_job(
                cast(int, trial.run_metadata.get("job_id"))  # the int `run` stored
            )
            record = {
                "trial_index": trial.index,
                "metric_name": "branin",
                "arm_name": trial.arm.name,
                "mean": values.get("branin"),
                "sem": None,
            }
            return Ok(value=Data(df=pd.DataFrame.from_records([record])))
        except Exception as e:
            return Err(MetricFetchE(message=f"Failed to fetch {self.name}", exception=e))


def make_branin_experiment(client: JobQueueClient) -> Experiment:
    parameters = [
        RangeParameter(name="x1", parameter_type=ParameterType.FLOAT, lower=-5, upper=10),
        RangeParameter(name="x2", parameter_type=ParameterType.FLOAT, lower=0, upper=15),
    ]
    objective = Objective(metric=BraninJobMetric(name="branin", client=client), minimize=True)
    return Experiment(
        name="branin_test_experiment",
        search_space=SearchSpace(parameters=parameters),
        optimization_config=OptimizationConfig(objective=objective),
        runner=JobRunner(client),
        is_test=True,
    )


class _FastPolls(TypedDict):
    """`SchedulerOptions` arguments: poll at once."""

    init_seconds_between_polls: float
    min_seconds_before_poll: float


FAST: _FastPolls = {"init_seconds_between_polls": 0.0, "min_seconds_before_poll": 0.0}


def test_two_runs_of_three_trials_then_a_timeout(clock: FakeClock) -> None:
    client = JobQueueClient()
    experiment = make_branin_experiment(client)
    strategy = choose_generation_strategy(
        search_space=experiment.search_space, max_parallelism_cap=3, random_seed=0
    )
    scheduler = Scheduler(
        experiment=experiment, generation_strategy=strategy, options=SchedulerOptions(**FAST)
    )

    scheduler.run_n_trials(max_trials=3)
    assert len(exp_to_df(experiment)) == 3

    scheduler.run_n_trials(max_trials=3)
    df = exp_to_df(experiment)
    assert len(df) == 6
    assert (df["trial_status"] == "COMPLETED").all()
    assert df["generation_step"].tolist() == ["Sobol"] * 5 + [strategy.steps[1].name]
    assert df["branin"].notna().all()
    assert all(t.objective_mean is not None for t in experiment.trials.values())

    # every poll takes a fake second, so a 36 ms budget runs out before jobs finish
    original_poll = client.get_job_status

    def slow_status(job_id: int) -> TrialStatus:
        clock.advance(1.0)
        return original_poll(job_id)

    client.get_job_status = slow_status  # type: ignore[method-assign]
    summary = scheduler.run_n_trials(max_trials=3, timeout_hours=0.00001)
    completed = experiment.trials_by_status(TrialStatus.COMPLETED)
    assert len(completed) < 9  # it did not finish its max_trials...
    assert len(completed) >= 6  # ...and lost nothing it had
    assert summary["trials_by_status"]["COMPLETED"] == len(completed)


class ResultReportingScheduler(Scheduler):
    def report_results(self, force_refit: bool = False) -> Any:
        return True, {
            "trials so far": len(self.experiment.trials),
            "currently producing trials from generation step": (
                self.generation_strategy._curr.model_name
            ),
            "running trials": [t.index for t in self.running_trials],
        }


def test_run_trials_and_yield_results_reports_each_completion_batch() -> None:
    client = JobQueueClient()
    experiment = make_branin_experiment(client)
    scheduler = ResultReportingScheduler(
        experiment=experiment,
        generation_strategy=choose_generation_strategy(
            search_space=experiment.search_space, max_parallelism_cap=3, random_seed=0
        ),
        options=SchedulerOptions(**FAST),
    )
    reported = list(scheduler.run_trials_and_yield_results(max_trials=6))

    # 3 at a time, each job done on its 2nd check: trials 0-2 finish together; then
    # the Sobol step's last two (3, 4) run, and trial 5 from the next step joins them
    # because the Sobol step already has its 3 observed trials
    assert [r[1]["trials so far"] for r in reported] == [3, 6, 6]
    assert [r[1]["running trials"] for r in reported] == [[], [5], []]
    assert all(r[0] is True for r in reported)
    assert reported[-1][1]["currently producing trials from generation step"] == (
        scheduler.generation_strategy.steps[1].model_name
    )
    assert len(experiment.trials) == 6
