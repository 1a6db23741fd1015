"""Small experiments with observed data, for tests of the BoTorch step and best point."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import pytest

from scheduler import (
    ChoiceParameter,
    Data,
    Experiment,
    FixedParameter,
    Metric,
    Objective,
    OptimizationConfig,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
    SearchSpace,
)
from scheduler.core.parameters import TParameterization
from scheduler.generation import GenerationContext, SobolGenerator
from scheduler.generation.botorch.encoding import UnitCubeEncoder
from scheduler.generation.botorch.generator import BoTorchGenerator
from scheduler.generation.botorch.gp import MetricObservations, collect_observations
from tests.support.values import number

#: A small optimizer budget: tests check behaviour, not optimization quality.
FAST: dict[str, Any] = {"num_restarts": 3, "raw_samples": 64, "maxiter": 15, "mc_samples": 32}

Evaluation = dict[str, float | tuple[float, float | None]]


def mixed_space() -> SearchSpace:
    """Floats under a linear constraint, a log-scale float, ints, choices, a fixed value."""
    return SearchSpace(
        parameters=[
            RangeParameter("x1", ParameterType.FLOAT, lower=0.0, upper=1.0),
            RangeParameter("x2", ParameterType.FLOAT, lower=0.0, upper=2.0),
            RangeParameter("lr", ParameterType.FLOAT, lower=1e-4, upper=1e-1, log_scale=True),
            RangeParameter("layers", ParameterType.INT, lower=1, upper=6),
            RangeParameter("width", ParameterType.INT, lower=8, upper=512, log_scale=True),
            ChoiceParameter("optimizer", ParameterType.STRING, values=["adam", "sgd", "rmsprop"]),
            ChoiceParameter("batch", ParameterType.INT, values=[16, 32, 64, 128], is_ordered=True),
            ChoiceParameter("nesterov", ParameterType.BOOL, values=[True, False]),
            FixedParameter("epochs", ParameterType.INT, value=3),
        ],
        parameter_constraints=[ParameterConstraint({"x1": 1.0, "x2": 1.0}, bound=1.5)],
    )


def mixed_objective(p: TParameterization) -> float:
    """Smooth in the floats, with a preferred value of every discrete parameter."""
    x1, x2, lr = number(p["x1"]), number(p["x2"]), number(p["lr"])
    value = (x1 - 0.3) ** 2 + (x2 - 0.9) ** 2 + (math.log10(lr) + 2.5) ** 2 / 4
    value += 0.1 * abs(int(number(p["layers"])) - 3)
    value += 0.2 * (p["optimizer"] != "sgd") + 0.1 * (p["nesterov"] is False)
    return value


def branin(p: TParameterization) -> float:
    x1, x2 = number(p["x1"]), number(p["x2"])
    return (
        (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
        + 10
    )


def branin_space() -> SearchSpace:
    return SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, -5.0, 10.0),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 15.0),
        ]
    )


def minimize(metric: str = "f") -> OptimizationConfig:
    return OptimizationConfig(Objective(Metric(metric), minimize=True))


def observe(
    experiment: Experiment,
    evaluate: Callable[[TParameterization], Evaluation],
    arms: list[TParameterization],
) -> None:
    """Add one COMPLETED trial per arm, with `evaluate(arm)` as its data."""
    for parameters in arms:
        trial = experiment.new_trial(parameters, generation_step="Sobol")
        trial.mark_running()
        experiment.attach_data(Data.from_evaluations(evaluate(trial.arm.parameters), trial.index))
        trial.mark_completed()


def sobol_arms(space: SearchSpace, n: int, seed: int = 0) -> list[TParameterization]:
    empty = GenerationContext(space, None, [], Data())
    return SobolGenerator(space, seed=seed).gen(n, empty)


def observations(experiment: Experiment, name: str = "f") -> MetricObservations:
    """Metric `name`'s training data from `experiment`, as the BoTorch step collects it."""
    encoder = UnitCubeEncoder(experiment.search_space)
    trials = experiment.trials.values()
    return collect_observations(encoder, trials, experiment.lookup_data(), [name])[name]


def generator(space: SearchSpace, seed: int | None = 0, **kwargs: Any) -> BoTorchGenerator:
    return BoTorchGenerator(space, seed=seed, **(FAST | kwargs))


def gen(
    experiment: Experiment, n: int, seed: int | None = 0, **kwargs: Any
) -> list[TParameterization]:
    """`n` proposals of a fresh BoTorch generator for `experiment`'s current state."""
    context = GenerationContext.from_experiment(experiment)
    return generator(experiment.search_space, seed, **kwargs).gen(n, context)


def fallback_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The WARNINGs in which the BoTorch step proposed Sobol arms instead."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "Sobol arm" in r.getMessage()
    ]
