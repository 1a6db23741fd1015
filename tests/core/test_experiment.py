"""Experiment: trials in index order, data per trial, objective values."""

from __future__ import annotations

import pandas as pd
import pytest

from scheduler import (
    Data,
    Experiment,
    Metric,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    SearchSpace,
    TrialStatus,
)
from scheduler.core import InvalidOptimizationConfigError, OutOfSearchSpaceError


@pytest.fixture
def experiment() -> Experiment:
    return Experiment(
        name="exp",
        search_space=SearchSpace([RangeParameter("x", ParameterType.FLOAT, lower=0, upper=1)]),
        optimization_config=OptimizationConfig(Objective(Metric("loss"), minimize=True)),
        tracking_metrics=[Metric("runtime")],
    )


def test_new_trials_get_consecutive_indices_and_cast_parameters(experiment: Experiment) -> None:
    first = experiment.new_trial({"x": 0}, generation_step="Sobol", ttl_seconds=30)
    second = experiment.new_trial({"x": "0.5"})
    assert [first.index, second.index] == [0, 1]
    assert first.arm.parameters == {"x": 0.0}
    assert second.arm.parameters == {"x": 0.5}
    assert first.generation_step == "Sobol" and first.ttl_seconds == 30
    assert first.experiment is experiment
    assert experiment.num_trials == 2


def test_a_trial_outside_the_space_is_refused_and_not_added(experiment: Experiment) -> None:
    with pytest.raises(OutOfSearchSpaceError, match=r"x=2\.0 is outside"):
        experiment.new_trial({"x": 2.0})
    assert experiment.num_trials == 0


def test_an_experiment_needs_a_name() -> None:
    space = SearchSpace([RangeParameter("x", ParameterType.FLOAT, lower=0, upper=1)])
    with pytest.raises(InvalidOptimizationConfigError, match="non-empty name"):
        Experiment(name="  ", search_space=space)


def test_metrics_include_objectives_and_tracking_metrics(experiment: Experiment) -> None:
    assert sorted(experiment.metrics) == ["loss", "runtime"]


def test_trials_by_status(experiment: Experiment) -> None:
    running = experiment.new_trial({"x": 0.1})
    running.mark_running()
    done = experiment.new_trial({"x": 0.2})
    done.mark_running()
    done.mark_completed()
    experiment.new_trial({"x": 0.3})
    assert experiment.running_trials == [running]
    by_status = experiment.trial_indices_by_status()
    assert by_status[TrialStatus.RUNNING] == {0}
    assert by_status[TrialStatus.COMPLETED] == {1}
    assert by_status[TrialStatus.CANDIDATE] == {2}
    assert experiment.trials_by_status(TrialStatus.CANDIDATE)[0].index == 2


def test_newer_data_replaces_older_rows_of_the_same_metric(experiment: Experiment) -> None:
    trial = experiment.new_trial({"x": 0.1})
    experiment.attach_data(Data.from_evaluations({"loss": 5.0, "runtime": 9.0}, trial.index))
    experiment.attach_data(Data.from_evaluations({"loss": 4.0}, trial.index))
    df = experiment.lookup_trial_data(trial.index).df.set_index("metric_name")
    assert df["mean"].to_dict() == {"runtime": 9.0, "loss": 4.0}
    assert trial.objective_mean == 4.0


def test_data_of_many_trials_attaches_per_trial_in_one_call(experiment: Experiment) -> None:
    trials = [experiment.new_trial({"x": x / 10}) for x in range(4)]
    experiment.attach_data(Data.from_evaluations({"loss": 7.0, "runtime": 1.0}, 2))
    # Rows out of trial order, several metrics and steps: one call for all trials.
    rows = [
        (3, "loss", 3.0, None),
        (0, "loss", 0.5, 0.0),
        (2, "loss", 2.0, None),
        (0, "loss", 0.0, 1.0),
        (1, "runtime", 1.5, None),
    ]
    frame = pd.DataFrame(rows, columns=["trial_index", "metric_name", "mean", "step"])
    experiment.attach_data(Data(frame.assign(sem=None)))

    assert experiment.lookup_trial_data(0).df["step"].tolist() == [0.0, 1.0]
    assert experiment.lookup_trial_data(1).df["metric_name"].tolist() == ["runtime"]
    two = experiment.lookup_trial_data(2).df.set_index("metric_name")["mean"].to_dict()
    assert two == {"runtime": 1.0, "loss": 2.0}  # kept the older runtime, replaced loss
    assert [t.objective_mean for t in trials] == [0.0, None, 2.0, 3.0]
    assert len(experiment.lookup_data()) == 6


def test_lookup_data_by_trial(experiment: Experiment) -> None:
    for x in (0.1, 0.2):
        trial = experiment.new_trial({"x": x})
        experiment.attach_data(Data.from_evaluations({"loss": x}, trial.index))
    assert len(experiment.lookup_data()) == 2
    assert experiment.lookup_data([1]).df["mean"].tolist() == [0.2]
    assert len(experiment.lookup_trial_data(9)) == 0


def test_objective_mean_is_none_without_a_finite_value(experiment: Experiment) -> None:
    unobserved = experiment.new_trial({"x": 0.1})
    nan_valued = experiment.new_trial({"x": 0.2})
    experiment.attach_data(Data.from_evaluations({"loss": float("nan")}, nan_valued.index))
    assert unobserved.objective_mean is None
    assert nan_valued.objective_mean is None
