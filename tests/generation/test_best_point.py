"""`best_trial` and `pareto_optimal_parameters`."""

from __future__ import annotations

import random

from scheduler import (
    ComparisonOp,
    Data,
    Experiment,
    Metric,
    MultiObjective,
    Objective,
    OptimizationConfig,
    OutcomeConstraint,
    ParameterType,
    RangeParameter,
    SearchSpace,
)
from scheduler.analysis.best_point import best_trial, pareto_optimal_parameters
from scheduler.core.parameters import TParameterization
from tests.generation.helpers import minimize, observe
from tests.support.values import number


def line_space() -> SearchSpace:
    return SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)])


def test_an_experiment_without_data_has_no_best_trial_and_an_empty_front() -> None:
    experiment = Experiment("empty", line_space(), minimize())
    assert best_trial(experiment, use_model=True) is None
    assert pareto_optimal_parameters(experiment) == {}
    experiment.new_trial({"x": 0.5}).mark_running()  # running, no data yet
    assert best_trial(experiment, use_model=False) is None
    assert best_trial(Experiment("no-config", line_space()), use_model=True) is None


def test_noiseless_best_is_the_best_feasible_observation() -> None:
    config = OptimizationConfig(
        Objective(Metric("f"), minimize=True),
        outcome_constraints=[OutcomeConstraint(Metric("c"), ComparisonOp.GEQ, 0.25)],
    )
    experiment = Experiment("constrained", line_space(), config)
    arms: list[TParameterization] = [{"x": x} for x in (0.1, 0.2, 0.3, 0.6, 0.9)]
    # f = x prefers x = 0.1, but c = x >= 0.25 rules out 0.1 and 0.2
    observe(experiment, lambda p: {"f": (number(p["x"]), 0.0), "c": (number(p["x"]), 0.0)}, arms)
    for use_model in (True, False):  # noiseless: the model is not needed
        index, parameters, values = best_trial(experiment, use_model=use_model)  # type: ignore[misc]
        assert (index, parameters) == (2, {"x": 0.3})
        assert values == {"f": 0.3, "c": 0.3}


def test_no_feasible_trial_means_no_best_trial() -> None:
    config = OptimizationConfig(
        Objective(Metric("f")),
        outcome_constraints=[OutcomeConstraint(Metric("c"), ComparisonOp.LEQ, -1.0)],
    )
    experiment = Experiment("infeasible", line_space(), config)
    observe(
        experiment, lambda p: {"f": number(p["x"]), "c": number(p["x"])}, [{"x": 0.2}, {"x": 0.4}]
    )
    assert best_trial(experiment, use_model=False) is None
    assert pareto_optimal_parameters(experiment, use_model=False) == {}


def test_with_noisy_data_the_model_discounts_a_lucky_observation() -> None:
    experiment = Experiment("noisy", line_space(), minimize())
    rng = random.Random(0)
    arms: list[TParameterization] = [{"x": i / 15} for i in range(16)]
    observe(experiment, lambda p: {"f": (number(p["x"]) + rng.gauss(0.0, 0.05), None)}, arms)
    lucky = experiment.new_trial({"x": 0.8})  # truly 0.8, observed as the minimum
    lucky.mark_running()
    experiment.attach_data(Data.from_evaluations({"f": -0.3}, lucky.index))
    lucky.mark_completed()

    observed = best_trial(experiment, use_model=False)
    assert observed is not None and observed[0] == lucky.index
    modeled = best_trial(experiment, use_model=True)
    assert modeled is not None and modeled[1]["x"] < 0.2  # type: ignore[operator]
    assert modeled[2]["f"] > -0.3  # a posterior mean, not the observation


def test_pareto_set_keeps_the_non_dominated_feasible_trials() -> None:
    objectives = [Objective(Metric("a"), minimize=True), Objective(Metric("b"), minimize=False)]
    config = OptimizationConfig(
        MultiObjective(objectives),
        outcome_constraints=[OutcomeConstraint(Metric("c"), ComparisonOp.LEQ, 0.0)],
    )
    experiment = Experiment("mo", line_space(), config)
    table = {  # x: (a (min), b (max), c (<= 0))
        0.1: (1.0, 1.0, -1.0),  # front
        0.2: (2.0, 3.0, -1.0),  # front
        0.3: (2.5, 2.5, -1.0),  # dominated by 0.2
        0.4: (0.5, 9.0, 1.0),  # would dominate everything, but infeasible
        0.5: (3.0, 4.0, -1.0),  # front
    }
    observe(
        experiment,
        lambda p: dict(zip("abc", ((v, 0.0) for v in table[number(p["x"])]), strict=True)),
        [{"x": x} for x in table],
    )
    front = pareto_optimal_parameters(experiment)
    assert sorted(front) == [0, 1, 4]
    assert front[1] == ({"x": 0.2}, {"a": 2.0, "b": 3.0, "c": -1.0})
    assert best_trial(experiment, use_model=False) is None  # several objectives: no single best


def test_single_objective_pareto_set_is_the_best_trial() -> None:
    experiment = Experiment("so", line_space(), minimize())
    observe(experiment, lambda p: {"f": (abs(number(p["x"]) - 0.4), 0.0)}, [{"x": 0.1}, {"x": 0.5}])
    assert pareto_optimal_parameters(experiment) == {1: ({"x": 0.5}, {"f": 0.09999999999999998})}
