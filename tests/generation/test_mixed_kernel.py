"""Unordered choices: the GP learns one shape over the other inputs and an offset per value.

A choice such as the optimizer of a training run, or a bool flag, shifts the
loss more than it reshapes it. The mixed kernel (`gp.covariance_module`) lets
a value observed at a few poor points borrow the shape the other values have
shown.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from gpytorch.kernels import AdditiveKernel, RBFKernel, ScaleKernel

import scheduler.generation.botorch.gp as modeling
from scheduler import ChoiceParameter, Experiment, ParameterType, RangeParameter, SearchSpace
from scheduler.core.parameters import TParameterization
from scheduler.generation.botorch.encoding import UnitCubeEncoder
from tests.generation.helpers import (
    branin_space,
    gen,
    minimize,
    mixed_space,
    observations,
    observe,
)
from tests.support.values import number

#: Each value of `kind` adds its offset to one shared curve; "c" is the best.
#: Three values are encoded as one-hot columns, two as a single column.
THREE_VALUES = {"a": 0.0, "b": 1.0, "c": -1.0}
TWO_VALUES = {"a": 0.0, "c": -1.0}
KINDS = pytest.mark.parametrize("offsets", [THREE_VALUES, TWO_VALUES], ids=["three", "two"])
#: Where the shared curve `sin(6 x)` has its minimum.
CURVE_MINIMUM = math.pi / 4
#: Where the best value "c" is observed: three poor points, far from the minimum.
C_AT = (0.1, 0.3, 0.5)


def shifted_space(offsets: dict[str, float]) -> SearchSpace:
    return SearchSpace(
        [
            RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0),
            ChoiceParameter("kind", ParameterType.STRING, list(offsets)),
        ]
    )


def shifted_curve(offsets: dict[str, float], p: TParameterization) -> float:
    return math.sin(6 * number(p["x"])) + offsets[str(p["kind"])]


def shifted_experiment(offsets: dict[str, float]) -> Experiment:
    """Every value but "c" at 8 points, the best value "c" at `C_AT` only."""
    experiment = Experiment("shifted", shifted_space(offsets), minimize())
    others = [k for k in offsets if k != "c"]
    arms: list[TParameterization] = [{"x": i / 7, "kind": k} for k in others for i in range(8)]
    arms += [{"x": x, "kind": "c"} for x in C_AT]
    observe(experiment, lambda p: {"f": (shifted_curve(offsets, p), 0.0)}, arms)
    return experiment


def test_the_encoder_names_the_unordered_choices_columns() -> None:
    encoder = UnitCubeEncoder(mixed_space())
    blocks = {b.name: b for b in encoder.blocks}
    optimizer, nesterov = blocks["optimizer"], blocks["nesterov"]
    # The 3-value choice's one-hot columns and the bool's column; not the
    # ordered choice, the ints or the floats.
    expected = (*range(optimizer.start, optimizer.start + 3), nesterov.start)
    assert encoder.categorical_columns() == expected
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


@KINDS
def test_a_value_seen_at_poor_points_borrows_the_shape_the_others_showed(
    offsets: dict[str, float],
) -> None:
    obs = observations(shifted_experiment(offsets))
    assert obs.categorical == ((1, 2, 3) if len(offsets) == 3 else (1,))
    grid: list[TParameterization] = [{"x": i / 20, "kind": "c"} for i in range(21)]
    X = UnitCubeEncoder(shifted_space(offsets)).encode_many(grid)
    truth = torch.tensor([shifted_curve(offsets, p) for p in grid], dtype=torch.float64)

    def worst_error(o: modeling.MetricObservations) -> float:
        model = modeling.fit_metric_model(o)
        with torch.no_grad():
            return float((model.posterior(X).mean.squeeze(-1) - truth).abs().max())

    assert worst_error(obs) < 0.05
    # One kernel over all columns cannot tell that "c" is "a" moved down:
    # what the mixed kernel is for.
    assert worst_error(dataclasses.replace(obs, categorical=())) > 0.3


@KINDS
def test_the_step_tries_the_best_value_at_the_shared_minimum(offsets: dict[str, float]) -> None:
    arm = gen(shifted_experiment(offsets), 1)[0]
    assert arm["kind"] == "c"
    assert abs(number(arm["x"]) - CURVE_MINIMUM) < 0.02
