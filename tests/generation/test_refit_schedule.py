"""With `refit_growth`, the GP's hyperparameters are refitted as the data grow.

Between fits the GP keeps the last fit's hyperparameters and still conditions
on every observation; the default (0) refits on every call.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch

import scheduler.generation.botorch.generator as botorch_step
import scheduler.generation.botorch.gp as modeling
from scheduler import Experiment
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.generation import GenerationContext
from scheduler.generation.botorch.gp import should_refit
from tests.generation.helpers import branin, branin_space, generator, minimize, observe, sobol_arms


def test_should_refit_once_the_data_have_grown_by_the_fraction() -> None:
    assert should_refit(5, None, 0.1)  # never fitted
    assert should_refit(11, 10, 0.1) and not should_refit(10, 10, 0.1)
    assert not should_refit(21, 20, 0.1) and should_refit(22, 20, 0.1)
    assert not should_refit(43, 40, 0.1) and should_refit(44, 40, 0.1)
    assert should_refit(19, 20, 0.1)  # the data shrank: the old fit is of other data
    assert should_refit(20, 20, 0.0)  # 0: every call


class FitSpy:
    """Counts hyperparameter optimizations and records each model's training size."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.optimizations = 0
        self.training_sizes: list[int] = []
        real_optimize, real_fit = modeling.fit_gpytorch_mll, botorch_step.fit_models

        def optimize(*args: Any, **kwargs: Any) -> Any:
            self.optimizations += 1
            return real_optimize(*args, **kwargs)

        def fit(*args: Any, **kwargs: Any) -> Any:
            model, fitted = real_fit(*args, **kwargs)
            # torch types a Module attribute as Tensor | Module; gpytorch's ExactGP sets
            # train_inputs to a tuple of tensors.
            train_inputs = cast(tuple[torch.Tensor, ...], model.train_inputs)
            self.training_sizes.append(int(train_inputs[0].shape[-2]))
            return model, fitted

        monkeypatch.setattr(modeling, "fit_gpytorch_mll", optimize)
        monkeypatch.setattr(botorch_step, "fit_models", fit)


def grow(experiment: Experiment, bo: botorch_step.BoTorchGenerator) -> dict[str, torch.Tensor]:
    """One proposal, observed; returns the hyperparameters the proposal used."""
    arm = bo.gen(1, GenerationContext.from_experiment(experiment))[0]
    observe(experiment, lambda p: {"f": (branin(p), 0.0)}, [arm])
    [hyperparameters] = bo._warm_start.values()
    return hyperparameters


def test_between_fits_the_gp_keeps_its_hyperparameters_and_sees_all_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    experiment = Experiment("branin", branin_space(), minimize())
    observe(experiment, lambda p: {"f": (branin(p), 0.0)}, sobol_arms(branin_space(), 20))
    spy = FitSpy(monkeypatch)
    bo = generator(experiment.search_space, refit_growth=0.1)  # fits at 20, 22
    first = grow(experiment, bo)  # fitted on 20
    second = grow(experiment, bo)  # 21 observations: kept
    third = grow(experiment, bo)  # 22: refitted
    assert spy.optimizations == 2
    assert spy.training_sizes == [20, 21, 22]  # the kept fit still conditions on every trial
    assert all(torch.equal(second[k], first[k]) for k in first)
    assert any(not torch.equal(third[k], second[k]) for k in first)
    assert bo._fitted_at == 22


def test_by_default_every_call_refits(monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = Experiment("branin", branin_space(), minimize())
    observe(experiment, lambda p: {"f": (branin(p), 0.0)}, sobol_arms(branin_space(), 20))
    spy = FitSpy(monkeypatch)
    bo = generator(experiment.search_space)
    for _ in range(3):
        grow(experiment, bo)
    assert spy.optimizations == 3


def test_a_resumed_generator_fits_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """`set_state` (a resume) drops the in-memory fit: the next call optimizes."""
    experiment = Experiment("branin", branin_space(), minimize())
    observe(experiment, lambda p: {"f": (branin(p), 0.0)}, sobol_arms(branin_space(), 20))
    spy = FitSpy(monkeypatch)
    bo = generator(experiment.search_space, refit_growth=0.1)
    grow(experiment, bo)
    bo.set_state(bo.get_state())
    grow(experiment, bo)  # 21 observations, but nothing to keep
    assert spy.optimizations == 2


@pytest.mark.parametrize("value", [-0.1, float("nan"), "often"])
def test_a_bad_refit_growth_is_a_one_line_error(value: object) -> None:
    with pytest.raises(InvalidSchedulerOptionsError) as caught:
        generator(branin_space(), refit_growth=value)
    message = str(caught.value)
    assert "refit_growth" in message and "\n" not in message
