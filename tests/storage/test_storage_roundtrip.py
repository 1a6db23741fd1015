"""What is saved loads back equal: definitions, trials, data, generation strategy."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
import pandas as pd
import pytest

from scheduler import (
    ChoiceParameter,
    ComparisonOp,
    Data,
    Experiment,
    FixedParameter,
    GenerationStep,
    GenerationStrategy,
    Metric,
    Models,
    MultiObjective,
    Objective,
    ObjectiveThreshold,
    OptimizationConfig,
    OutcomeConstraint,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    SearchSpace,
    TrialStatus,
)
from scheduler.storage import DBSettings, SQLStore, load_experiment
from scheduler.storage.encoding import experiment_to_json, generation_strategy_to_json
from scheduler.storage.registry import DEFAULT_REGISTRY
from tests.storage.storage_helpers import BraninMetric, TimedRunner, branin_space, sobol_strategy


def full_space() -> SearchSpace:
    """Every parameter kind and type, plus a linear constraint."""
    return SearchSpace(
        [
            RangeParameter("x", ParameterType.FLOAT, -1.5, 2.0),
            RangeParameter("lr", ParameterType.FLOAT, 1e-5, 1e-1, log_scale=True),
            RangeParameter("layers", ParameterType.INT, 1, 8),
            RangeParameter("width", ParameterType.INT, 16, 1024, log_scale=True),
            RangeParameter("y", ParameterType.FLOAT, 0.0, 3.0),
            ChoiceParameter("opt", ParameterType.STRING, ["adam", "sgd", "rmsprop"]),
            ChoiceParameter(
                "batch", ParameterType.INT, [64, 16, 32], is_ordered=True, sort_values=True
            ),
            ChoiceParameter("dropout", ParameterType.FLOAT, [0.0, 0.1, 0.5], is_ordered=True),
            ChoiceParameter("bn", ParameterType.BOOL, [True, False]),
            FixedParameter("arch", ParameterType.STRING, "resnet"),
            FixedParameter("scale", ParameterType.FLOAT, 1.0),
            FixedParameter("flag", ParameterType.BOOL, False),
            FixedParameter("epochs", ParameterType.INT, 3),
        ],
        [ParameterConstraint({"x": 1.0, "y": -2.0}, 1.5), ParameterConstraint({"layers": 2}, 12)],
    )


def single_objective() -> OptimizationConfig:
    return OptimizationConfig(
        Objective(Metric("loss", lower_is_better=True), minimize=True),
        outcome_constraints=[
            OutcomeConstraint(Metric("latency"), ComparisonOp.LEQ, 20.0),
            OutcomeConstraint(BraninMetric("accuracy"), ComparisonOp.GEQ, 0.9),
        ],
    )


def multi_objective() -> OptimizationConfig:
    return OptimizationConfig(
        MultiObjective(
            [
                Objective(Metric("loss"), minimize=True),
                Objective(BraninMetric("speed"), minimize=False),
            ]
        ),
        outcome_constraints=[OutcomeConstraint(Metric("mem"), ComparisonOp.LEQ, 4.0)],
        objective_thresholds=[ObjectiveThreshold(Metric("loss"), 1.0)],
    )


def encoded(experiment: Experiment) -> dict[str, object]:
    return experiment_to_json(experiment, DEFAULT_REGISTRY)


@pytest.mark.parametrize("config", [single_objective, multi_objective, lambda: None])
def test_definition_round_trip(db_url: str, config: object) -> None:
    experiment = Experiment(
        name="defs",
        search_space=full_space(),
        optimization_config=config(),  # type: ignore[operator]
        runner=TimedRunner(duration=2.5),
        tracking_metrics=[Metric("aux"), BraninMetric("extra", lower_is_better=False)],
        description="every kind of parameter",
        is_test=True,
    )
    store = SQLStore(DBSettings(url=db_url))
    store.save_experiment(experiment, sobol_strategy())
    loaded = load_experiment("defs", DBSettings(url=db_url))
    assert encoded(loaded) == encoded(experiment)
    assert list(loaded.search_space.parameters.values()) == list(
        experiment.search_space.parameters.values()
    )
    assert (
        loaded.search_space.parameter_constraints == experiment.search_space.parameter_constraints
    )
    batch = loaded.search_space.parameters["batch"]
    assert isinstance(batch, ChoiceParameter) and batch.values == [16, 32, 64]
    assert isinstance(loaded.runner, TimedRunner) and loaded.runner.duration == 2.5
    assert [type(m) for m in loaded.tracking_metrics] == [Metric, BraninMetric]
    assert loaded.is_test and loaded.description == "every kind of parameter"
    if experiment.optimization_config is not None:
        assert loaded.optimization_config is not None
        assert loaded.optimization_config.is_multi_objective == (
            experiment.optimization_config.is_multi_objective
        )
        assert [o.minimize for o in loaded.optimization_config.objectives] == [
            o.minimize for o in experiment.optimization_config.objectives
        ]


def test_trials_and_data_round_trip(db_url: str) -> None:
    experiment = Experiment("trials", branin_space(), runner=TimedRunner())
    experiment.optimization_config = OptimizationConfig(Objective(BraninMetric("branin")))
    t0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    trials = [
        experiment.new_trial({"x1": float(i), "x2": 1.5}, "Sobol", ttl_seconds=30.0)
        for i in range(5)
    ]
    trials[0].update_run_metadata({"task_id": "abc", "nested": {"a": [1, 2.5, None]}})
    trials[0].mark_running()
    trials[0].mark_completed()
    trials[1].mark_staged()
    trials[2].mark_running()
    trials[2].mark_failed("worker died: OOM")
    trials[3].mark_running()
    trials[3].stop_metadata["revoked"] = True
    trials[3].mark_early_stopped("poor curve")
    for trial in trials:
        trial.time_created = t0 + timedelta(seconds=trial.index)
    data = Data(
        pd.DataFrame(
            {
                "trial_index": [0, 0, 3, 3, 3],
                "arm_name": ["0_0", "0_0", "3_0", "3_0", "3_0"],
                "metric_name": ["branin", "aux", "branin", "branin", "branin"],
                "mean": [1.25, -3.0, 9.0, 7.0, 6.5],
                "sem": [0.1, np.nan, np.nan, np.nan, np.nan],
                "step": [np.nan, np.nan, 1.0, 2.0, 3.0],
            }
        )
    )
    experiment.attach_data(data)
    store = SQLStore(db_url)
    store.save_experiment(experiment, sobol_strategy())
    newer = Data.from_evaluations(
        {"branin": (1.0, 0.0)}, trial_index=0
    )  # replaces trial 0's branin
    experiment.attach_data(newer)
    store.save_data(experiment, newer)

    loaded = load_experiment("trials", db_url)
    assert sorted(loaded.trials) == [0, 1, 2, 3, 4]
    for index, trial in experiment.trials.items():
        got = loaded.trials[index]
        for attribute in (
            "status",
            "run_metadata",
            "stop_metadata",
            "time_created",
            "time_staged",
            "time_run_started",
            "time_completed",
            "failed_reason",
            "ttl_seconds",
            "generation_step",
        ):
            assert getattr(got, attribute) == getattr(trial, attribute), (index, attribute)
        assert got.arm == trial.arm
        assert got.experiment is loaded
    assert loaded.trials[2].status is TrialStatus.FAILED
    for index in (0, 3):
        want = experiment.lookup_trial_data(index).df.sort_values(["metric_name", "mean"])
        got_df = loaded.lookup_trial_data(index).df.sort_values(["metric_name", "mean"])
        cols = ["trial_index", "arm_name", "metric_name", "mean", "sem"]
        pd.testing.assert_frame_equal(
            got_df[cols].reset_index(drop=True), want[cols].reset_index(drop=True)
        )
    assert loaded.objective_mean_of(0) == 1.0
    assert loaded.lookup_trial_data(3).final().df["mean"].tolist() == [6.5]
    aux_sem = loaded.lookup_trial_data(0).df.set_index("metric_name").at["aux", "sem"]
    assert math.isnan(cast(float, aux_sem))  # the "sem" column holds floats


def test_generation_strategy_round_trip_continues_sobol(db_url: str) -> None:
    strategy = GenerationStrategy(
        [
            GenerationStep(Models.SOBOL, num_trials=3, min_trials_observed=1, max_parallelism=5),
            GenerationStep(Models.SOBOL, num_trials=-1, model_kwargs={"note": "second"}),
        ],
        name="two sobols",
        seed=7,
    )
    experiment = Experiment("gs", branin_space(), runner=TimedRunner())
    experiment.optimization_config = OptimizationConfig(Objective(BraninMetric("branin")))
    for run in strategy.gen(experiment, 2):
        experiment.new_trial(run.parameters, run.generation_step)
    store = SQLStore(db_url)
    store.save_experiment(experiment, strategy)
    expected_next = strategy.gen(experiment, 1)[0].parameters
    store2 = SQLStore(db_url)
    loaded, rebuilt = store2.load_experiment("gs")
    assert rebuilt is not None
    assert generation_strategy_to_json(rebuilt) == generation_strategy_to_json(strategy)
    assert [s.name for s in rebuilt.steps] == ["Sobol", "Sobol#2"]
    assert rebuilt.gen(loaded, 1)[0].parameters == expected_next


def test_a_fleet_sized_strategy_keeps_its_fill_while_waiting_when_stored() -> None:
    """A resumed fleet-sized strategy still fills the handover wait (a lost
    `fill_while_waiting` would leave workers idle after every resume)."""
    from scheduler.generation import choose_generation_strategy
    from scheduler.storage.encoding import generation_strategy_from_json

    strategy = choose_generation_strategy(branin_space(), num_trials=100, fleet_size=16)
    filling = [s.fill_while_waiting for s in strategy.steps]
    assert any(filling)
    rebuilt = generation_strategy_from_json(generation_strategy_to_json(strategy), None)
    assert [s.fill_while_waiting for s in rebuilt.steps] == filling
    plain = generation_strategy_to_json(choose_generation_strategy(branin_space(), num_trials=30))
    assert all("fill_while_waiting" not in step for step in plain["steps"])  # as stored before
