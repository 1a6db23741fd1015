"""Bad input reaching the Scheduler gets a named error or a failed trial with a reason."""

from __future__ import annotations

import math
from typing import Any

import pytest

from scheduler import (
    Experiment,
    FailureRateExceededError,
    Metric,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SchedulerOptions,
    SearchSpace,
    Trial,
    TrialStatus,
)
from scheduler.core import (
    InvalidOptimizationConfigError,
    InvalidRunMetadataError,
    InvalidSchedulerOptionsError,
)
from tests.scheduler.fake_queue import (
    FakeJobQueue,
    FakeRunner,
    fast_options,
    make_experiment,
    sobol_only,
)


def run_one_trial(result: dict[str, float]) -> Trial:
    """Run one trial that fails: the run ends with the failure-rate guard's final
    check (every trial this scheduler ran failed), naming the trial's reason."""
    queue = FakeJobQueue(polls_to_finish=1, evaluate=lambda params: result)
    scheduler = Scheduler(make_experiment(queue), sobol_only(), fast_options())
    with pytest.raises(FailureRateExceededError, match="1 of 1 deployed trials failed") as err:
        scheduler.run_n_trials(max_trials=1)
    trial = scheduler.experiment.trials[0]
    assert trial.failed_reason is not None and trial.failed_reason in str(err.value)
    return trial


# -- what a metric returns -------------------------------------------------------
def test_objective_missing_from_the_fetched_data_fails_the_trial_naming_it() -> None:
    trial = run_one_trial({"accuracy": 0.9})
    assert trial.status is TrialStatus.FAILED
    assert trial.failed_reason is not None
    assert "'objective'" in trial.failed_reason
    assert "returned no row for trial 0" in trial.failed_reason


class BrokenMetric(Metric):
    def fetch_trial_data(self, trial: Trial) -> Any:
        raise ConnectionError("result backend unreachable")


def test_a_metric_that_raises_fails_the_trial_with_the_cause() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    experiment = make_experiment(queue)
    experiment.optimization_config = OptimizationConfig(Objective(BrokenMetric("objective")))
    with pytest.raises(FailureRateExceededError, match="came from metric fetches"):
        Scheduler(experiment, sobol_only(), fast_options()).run_n_trials(max_trials=1)
    trial = experiment.trials[0]
    assert trial.status is TrialStatus.FAILED
    assert trial.failed_reason is not None
    assert "metric 'objective' could not be fetched" in trial.failed_reason
    assert "result backend unreachable" in trial.failed_reason


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_objective_value_fails_the_trial(value: float) -> None:
    trial = run_one_trial({"objective": value})
    assert trial.status is TrialStatus.FAILED
    assert trial.failed_reason is not None
    assert "'objective' of trial 0 is not a finite number" in trial.failed_reason


# -- what a runner returns -------------------------------------------------------
def test_run_metadata_that_is_not_a_dict_is_a_named_error_and_fails_the_trial() -> None:
    queue = FakeJobQueue(polls_to_finish=1)
    runner = FakeRunner(queue, run_metadata=lambda job_id: ["job", job_id])
    scheduler = Scheduler(make_experiment(queue, runner=runner), sobol_only(), fast_options())
    with pytest.raises(InvalidRunMetadataError, match="must return a dict of run metadata"):
        scheduler.run_n_trials(max_trials=1)
    trial = scheduler.experiment.trials[0]
    assert trial.status is TrialStatus.FAILED
    assert trial.failed_reason is not None and "got list" in trial.failed_reason


class MalformedPollRunner(FakeRunner):
    def __init__(self, queue: FakeJobQueue, answer: object) -> None:
        super().__init__(queue)
        self.answer = answer

    def poll_trial_status(self, trials: Any) -> Any:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([(TrialStatus.COMPLETED, {0})], r"must return \{TrialStatus: set\(trial_index\)\}"),
        ({"COMPLETED": {0}}, "keys must be TrialStatus members"),
        ({TrialStatus.COMPLETED: 0}, "set of trial indices"),
        ({TrialStatus.COMPLETED: {"first"}}, "set of trial indices"),
    ],
    ids=["list", "string-key", "int-value", "non-index"],
)
def test_a_malformed_poll_result_is_a_named_error(answer: object, message: str) -> None:
    queue = FakeJobQueue()
    runner = MalformedPollRunner(queue, answer)
    scheduler = Scheduler(make_experiment(queue, runner=runner), sobol_only(), fast_options())
    with pytest.raises(InvalidRunMetadataError, match=message):
        scheduler.run_n_trials(max_trials=1)
    assert scheduler.experiment.trials[0].status is TrialStatus.RUNNING  # kept, not lost


def test_a_poll_naming_an_unknown_trial_is_ignored() -> None:
    queue = FakeJobQueue(polls_to_finish=1)

    class ExtraIndexRunner(FakeRunner):
        def poll_trial_status(self, trials: Any) -> dict[TrialStatus, set[int]]:
            statuses = super().poll_trial_status(trials)
            statuses.setdefault(TrialStatus.COMPLETED, set()).add(99)
            return statuses

    runner = ExtraIndexRunner(queue)
    scheduler = Scheduler(make_experiment(queue, runner=runner), sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=1)
    assert list(scheduler.experiment.trials) == [0]


def test_a_runner_that_raises_on_deploy_fails_that_trial_only() -> None:
    queue = FakeJobQueue(polls_to_finish=1)

    def refuse_trial_one(trial: Trial) -> None:
        if trial.index == 1:
            raise RuntimeError("quota exceeded")

    runner = FakeRunner(queue, on_run=refuse_trial_one)
    scheduler = Scheduler(make_experiment(queue, runner=runner), sobol_only(), fast_options())
    scheduler.run_n_trials(max_trials=3)
    trial = scheduler.experiment.trials[1]
    assert trial.status is TrialStatus.FAILED
    assert trial.failed_reason == "deploy failed: quota exceeded"
    others = [t.status for i, t in scheduler.experiment.trials.items() if i != 1]
    assert others == [TrialStatus.COMPLETED] * 2


# -- options and arguments -------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_pending_trials": 0}, "max_pending_trials"),
        ({"max_pending_trials": -3}, "max_pending_trials"),
        ({"total_trials": -1}, "total_trials"),
        ({"tolerated_trial_failure_rate": 1.0}, "tolerated_trial_failure_rate"),
        ({"tolerated_trial_failure_rate": -0.1}, "tolerated_trial_failure_rate"),
        ({"tolerated_trial_failure_rate": 1.5}, "tolerated_trial_failure_rate"),
        (
            {"min_failed_trials_for_failure_rate_check": 0},
            "min_failed_trials_for_failure_rate_check",
        ),
        ({"ttl_seconds_for_trials": 0}, "ttl_seconds_for_trials"),
        ({"ttl_seconds_for_trials": -5}, "ttl_seconds_for_trials"),
        ({"init_seconds_between_polls": -1}, "init_seconds_between_polls"),
        ({"min_seconds_before_poll": -1}, "min_seconds_before_poll"),
        ({"seconds_between_polls_backoff_factor": 0.5}, "seconds_between_polls_backoff_factor"),
        (
            {"init_seconds_between_polls": 10, "max_seconds_between_polls": 5},
            "max_seconds_between_polls",
        ),
    ],
)
def test_nonsensical_options_are_named_with_what_to_use(
    options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidSchedulerOptionsError) as err:
        SchedulerOptions(**options)
    message = str(err.value)
    assert f"SchedulerOptions.{field}=" in message
    assert "use " in message


@pytest.mark.parametrize("field", ["early_stopping_strategy", "global_stopping_strategy"])
def test_a_stopping_strategy_without_its_method_is_refused(field: str) -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match=f"{field} must have a"):
        strategy: Any = object()  # the field is typed Any; the check is at run time
        SchedulerOptions(**{field: strategy})


def test_options_are_immutable_and_list_their_fields() -> None:
    options = SchedulerOptions()
    with pytest.raises(AttributeError):
        options.max_pending_trials = 3  # type: ignore[misc]
    assert "ttl_seconds_for_trials" in SchedulerOptions.field_names()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_trials": -1}, "non-negative whole number"),
        ({"max_trials": 2.5}, "non-negative whole number"),
        ({"max_trials": 3, "timeout_hours": -1}, "number >= 0 or None"),
        ({"max_trials": 3, "timeout_hours": math.nan}, "number >= 0 or None"),
    ],
)
def test_bad_run_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    scheduler = Scheduler(make_experiment(FakeJobQueue()), sobol_only(), fast_options())
    with pytest.raises(InvalidSchedulerOptionsError, match=message):
        scheduler.run_n_trials(**kwargs)
    assert scheduler.experiment.num_trials == 0


def bare_experiment(**kwargs: Any) -> Experiment:
    space = SearchSpace([RangeParameter("x", ParameterType.FLOAT, lower=0, upper=1)])
    return Experiment(name="bare", search_space=space, **kwargs)


def test_a_scheduler_needs_a_runner() -> None:
    experiment = bare_experiment(optimization_config=OptimizationConfig(Objective(Metric("m"))))
    with pytest.raises(InvalidSchedulerOptionsError, match=r"runner=MyRunner\(\)"):
        Scheduler(experiment, sobol_only())


def test_a_scheduler_needs_an_optimization_config() -> None:
    experiment = bare_experiment(runner=FakeRunner(FakeJobQueue()))
    with pytest.raises(InvalidOptimizationConfigError, match="no optimization_config"):
        Scheduler(experiment, sobol_only())
