"""Input warping: a learned Kumaraswamy warp of the inputs, when asked for."""

from __future__ import annotations

import torch
from botorch.models.transforms.input import Warp

import scheduler.generation.botorch.gp as modeling
from scheduler import Experiment
from scheduler.generation import GenerationContext
from tests.generation.helpers import (
    branin,
    branin_space,
    generator,
    minimize,
    observations,
    observe,
    sobol_arms,
)


def branin_experiment() -> Experiment:
    experiment = Experiment("branin", branin_space(), minimize())
    observe(experiment, lambda p: {"f": (branin(p), 0.0)}, sobol_arms(branin_space(), 8))
    return experiment


def test_warping_is_off_by_default_and_fitted_when_asked() -> None:
    obs = observations(branin_experiment())
    assert getattr(modeling.fit_metric_model(obs), "input_transform", None) is None
    warped = modeling.fit_metric_model(obs, input_warping=True)
    assert isinstance(warped.input_transform, Warp)
    concentration0 = warped.input_transform.concentration0  # typed Tensor | Module by torch
    assert isinstance(concentration0, torch.Tensor)  # a Parameter
    assert concentration0.shape[-1] == 2


def test_a_warped_generator_proposes_and_warm_starts_the_warp() -> None:
    experiment = branin_experiment()
    step = generator(experiment.search_space, input_warping=True)
    context = GenerationContext.from_experiment(experiment)
    for _ in range(2):
        proposals = step.gen(2, context)
        assert len(proposals) == 2
        assert all(experiment.search_space.check_membership(p) for p in proposals)
    [fitted] = step._warm_start.values()
    assert any(name.startswith("input_transform.") for name in fitted)
