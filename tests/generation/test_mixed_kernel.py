"""Unordered choices: the GP learns one shape over the other inputs and an offset per value.

A choice such as the optimizer of a training run shifts the loss more than it
reshapes it. The mixed kernel (`gp.covariance_module`) lets a value observed
once borrow the shape the other values have shown.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from gpytorch.kernels import AdditiveKernel, RBFKernel, ScaleKernel

import scheduler.generation.botorch.gp as modeling
from scheduler import ChoiceParameter, Experiment, ParameterType, RangeParameter, SearchSpace
from scheduler.core.parameters import TParameterization
from scheduler.generation.botorch.encoding import UnitCubeEncoder
from tests.generation.helpers import branin_space, gen, minimize, mixed_space, observe
from tests.support.values import number

#: Each value of `kind` adds its offset to one shared curve; "c" is the best.
OFFSETS = {"a": 0.0, "b": 1.0, "c": -1.0}
#: Where the shared curve `sin(6 x)` has its minimum.
CURVE_MINIMUM = math.pi / 4


def shifted_space() -> SearchSpace:
    return SearchSpace(
        [
            RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0),
            ChoiceParameter("kind", ParameterType.STRING, list(OFFSETS)),
        ]
    )


def shifted_curve(p: TParameterization) -> float:
    return math.sin(6 * number(p["x"])) + OFFSETS[str(p["kind"])]


def shifted_experiment() -> Experiment:
    """ "a" and "b" at 8 points each, the best value "c" once, at a poor x."""
    experiment = Experiment("shifted", shifted_space(), minimize())
    arms: list[TParameterization] = [{"x": i / 7, "kind": k} for k in ("a", "b") for i in range(8)]
    arms.append({"x": 0.1, "kind": "c"})
    observe(experiment, lambda p: {"f": (shifted_curve(p), 0.0)}, arms)
    return experiment


def observations(experiment: Experiment) -> modeling.MetricObservations:
    encoder = UnitCubeEncoder(experiment.search_space)
    trials = experiment.trials.values()
    return modeling.collect_observations(encoder, trials, experiment.lookup_data(), ["f"])["f"]


def test_the_encoder_names_the_one_hot_columns_only() -> None:
    encoder = UnitCubeEncoder(mixed_space())
    optimizer = next(b for b in encoder.blocks if b.name == "optimizer")
    # The 3-value unordered choice; not the bool, the ordered choice or the ints.
    assert encoder.categorical_columns() == tuple(range(optimizer.start, optimizer.start + 3))
    assert UnitCubeEncoder(branin_space()).categorical_columns() == ()


def test_a_space_without_unordered_choices_keeps_one_stationary_kernel() -> None:
    kernel = modeling.covariance_module("rbf", 3, 1)
    assert isinstance(kernel, ScaleKernel) and isinstance(kernel.base_kernel, RBFKernel)
    assert kernel.base_kernel.active_dims is None


def test_a_choice_is_modeled_as_shared_shape_plus_offset_plus_interaction() -> None:
    kernel = modeling.covariance_module("rbf", 5, 1, categorical=(2, 3, 4))
    assert isinstance(kernel, AdditiveKernel) and len(kernel.kernels) == 3
    shared, offsets, _ = kernel.kernels
    assert isinstance(shared, ScaleKernel) and isinstance(offsets, ScaleKernel)
    assert shared.base_kernel.active_dims.tolist() == [0, 1]
    assert offsets.base_kernel.active_dims.tolist() == [2, 3, 4]


def test_a_value_seen_once_borrows_the_shape_the_others_showed() -> None:
    obs = observations(shifted_experiment())
    assert obs.categorical == (1, 2, 3)
    grid: list[TParameterization] = [{"x": i / 20, "kind": "c"} for i in range(21)]
    X = UnitCubeEncoder(shifted_space()).encode_many(grid)
    truth = torch.tensor([shifted_curve(p) for p in grid], dtype=torch.float64)

    def worst_error(o: modeling.MetricObservations) -> float:
        model = modeling.fit_metric_model(o)
        with torch.no_grad():
            return float((model.posterior(X).mean.squeeze(-1) - truth).abs().max())

    assert worst_error(obs) < 0.05
    # One kernel over all columns cannot tell "c" is "a" moved down (error ~2):
    # what the mixed kernel is for.
    assert worst_error(dataclasses.replace(obs, categorical=())) > 0.5


def test_the_step_tries_the_best_value_at_the_shared_minimum() -> None:
    arm = gen(shifted_experiment(), 1)[0]
    assert arm["kind"] == "c"
    assert abs(number(arm["x"]) - CURVE_MINIMUM) < 0.02
