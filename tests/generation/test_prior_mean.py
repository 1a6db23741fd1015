"""The GP's prior mean: away from the data an objective's model expects its worst value."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import scheduler.generation.botorch.generator as botorch_step
import scheduler.generation.botorch.gp as modeling
from scheduler import Experiment, Metric, Objective, OptimizationConfig
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.parameters import TParameterization
from scheduler.generation import GenerationContext
from scheduler.generation.botorch.prior_mean import WorstObservedMean
from tests.generation.helpers import (
    branin,
    branin_space,
    generator,
    minimize,
    observations,
    observe,
)

#: The unit-cube corner opposite the data, several lengthscales from every arm.
FAR = torch.tensor([[1.0, 1.0]], dtype=torch.float64)


def corner_arms(n: int = 8) -> list[TParameterization]:
    """Arms in the lowest fifth of Branin's box on both axes (unit cube [0, 0.2]^2)."""
    generator = torch.Generator().manual_seed(0)
    u = 0.2 * torch.rand(n, 2, generator=generator, dtype=torch.float64)
    return [{"x1": -5.0 + 15.0 * float(a), "x2": 15.0 * float(b)} for a, b in u.tolist()]


def corner_experiment(extra: float | None = None) -> Experiment:
    """Branin ("f") and a constrained metric ("c", Branin's negative) at `corner_arms`;
    `extra` adds one arm whose "f" is that much worse than the worst."""
    experiment = Experiment("corner", branin_space(), minimize())
    arms = corner_arms()
    observe(experiment, lambda p: {"f": (branin(p), 0.0), "c": (-branin(p), 0.0)}, arms)
    if extra is not None:
        worst = max(branin(a) for a in arms)
        arm: TParameterization = {"x1": -4.5, "x2": 2.5}
        observe(experiment, lambda p: {"f": (worst + extra, 0.0), "c": (0.0, 0.0)}, [arm])
    return experiment


def far_mean(model: Any, output: int = 0) -> float:
    with torch.no_grad():
        return float(model.posterior(FAR).mean[0, output])


@pytest.mark.parametrize(("side", "pick"), [(1.0, max), (-1.0, min)])
def test_far_from_the_data_an_objective_expects_its_worst_value(side: float, pick: Any) -> None:
    obs = observations(corner_experiment(), "f")
    values = obs.Y.flatten().tolist()
    model = modeling.fit_metric_model(obs, worst_sides=[side])
    assert isinstance(model.mean_module, WorstObservedMean)
    # What the data still say at the far corner is under 1 % of their range.
    assert far_mean(model) == pytest.approx(pick(values), abs=0.02 * (max(values) - min(values)))


def test_the_fitted_mean_is_bo_torchs_and_goes_elsewhere() -> None:
    obs = observations(corner_experiment(), "f")
    values = obs.Y.flatten().tolist()
    fitted = modeling.fit_metric_model(obs)
    assert not isinstance(fitted.mean_module, WorstObservedMean)
    assert abs(far_mean(fitted) - max(values)) > 0.1 * (max(values) - min(values))


def test_a_constrained_metric_keeps_its_fitted_mean_beside_a_fixed_objective() -> None:
    experiment = corner_experiment()
    both = [observations(experiment, "f"), observations(experiment, "c")]
    model, _ = modeling.fit_models(both, worst_sides=[1.0, None])
    assert isinstance(model.mean_module, WorstObservedMean)
    assert model.mean_module.fixed.tolist() == [True, False]
    fitted, _ = modeling.fit_models(both)
    assert far_mean(model, 0) == pytest.approx(max(both[0].Y.flatten().tolist()), rel=0.02)
    assert far_mean(model, 1) == pytest.approx(far_mean(fitted, 1), abs=0.05)


def test_a_warm_started_fit_takes_the_new_worst_value() -> None:
    first = modeling.fit_metric_model(observations(corner_experiment(), "f"), worst_sides=[1.0])
    grown = observations(corner_experiment(extra=25.0), "f")
    warm = modeling.fit_metric_model(
        grown, warm_start=modeling.hyperparameters(first), worst_sides=[1.0]
    )
    assert far_mean(warm) == pytest.approx(max(grown.Y.flatten().tolist()), rel=0.02)
    assert far_mean(warm) > far_mean(first) + 20.0


def recorded_sides(
    monkeypatch: pytest.MonkeyPatch, minimize_f: bool = True, **kwargs: Any
) -> list[Any]:
    """The `worst_sides` each fit of a generator's `gen` was given."""
    seen: list[Any] = []
    real = botorch_step.fit_models

    def spy(*args: Any, **kw: Any) -> Any:
        seen.append(kw.get("worst_sides"))
        return real(*args, **kw)

    monkeypatch.setattr(botorch_step, "fit_models", spy)
    experiment = corner_experiment()
    experiment.optimization_config = OptimizationConfig(Objective(Metric("f"), minimize_f))
    step = generator(experiment.search_space, **kwargs)
    [arm] = step.gen(1, GenerationContext.from_experiment(experiment))
    assert experiment.search_space.check_membership(arm)
    return seen


def test_the_step_fits_the_prior_mean_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert recorded_sides(monkeypatch) == [None]


@pytest.mark.parametrize(("minimize_f", "side"), [(True, 1.0), (False, -1.0)])
def test_prior_mean_worst_fixes_the_objective_at_its_worst_side(
    monkeypatch: pytest.MonkeyPatch, minimize_f: bool, side: float
) -> None:
    assert recorded_sides(monkeypatch, minimize_f, prior_mean="worst") == [[side]]


def test_an_unknown_prior_mean_is_a_named_one_line_error() -> None:
    with pytest.raises(InvalidSchedulerOptionsError) as caught:
        generator(branin_space(), prior_mean="median")
    message = str(caught.value)
    assert "prior_mean='median'" in message and "'worst'" in message and "'fitted'" in message
    assert "\n" not in message
