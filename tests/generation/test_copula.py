"""The Gaussian-copula output transform (`output_copula=`): what the GP is fitted to."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import scheduler.generation.botorch.generator as botorch_step
from scheduler import ComparisonOp, Metric, Objective, OptimizationConfig, OutcomeConstraint
from scheduler.generation import GenerationContext
from scheduler.generation.botorch.copula import normal_scores
from tests.generation.helpers import branin_space, generator
from tests.generation.test_exploration import branin_experiment


def test_normal_scores_keep_the_order_and_share_ties() -> None:
    Y = torch.tensor([[3.0], [1.0], [2.0], [2.0], [100.0]], dtype=torch.double)
    z = normal_scores(Y).flatten()
    assert z[1] < z[2] == z[3] < z[0] < z[4]
    # ranks 1, 2.5, 2.5, 4, 5 of 5: the tied pair sits at (2.5 - 0.5) / 5 = 0.4
    assert float(z[2]) == pytest.approx(
        float(torch.distributions.Normal(0, 1).icdf(torch.tensor(0.4)))
    )
    assert float(z[4]) == pytest.approx(-float(z[1]))  # the outlier is just the top rank


def fitted_targets(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[torch.Tensor, ...]:
    """The objective values each GP fit of one proposal saw."""
    seen: list[torch.Tensor] = []
    original = botorch_step.fit_models

    def spy(observations: Any, *args: Any, **kw: Any) -> Any:
        seen.extend(o.Y.clone() for o in observations)
        return original(observations, *args, **kw)

    monkeypatch.setattr(botorch_step, "fit_models", spy)
    experiment = branin_experiment(config=kwargs.pop("config", None))
    context = GenerationContext.from_experiment(experiment)
    proposals = generator(branin_space(), **kwargs).gen(1, context)
    assert experiment.search_space.check_membership(proposals[0])
    return tuple(seen)


def test_the_objective_is_fitted_to_its_normal_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    (raw,) = fitted_targets(monkeypatch)
    (scores,) = fitted_targets(monkeypatch, output_copula=True)
    assert torch.allclose(scores, normal_scores(raw))


def test_outcome_constraints_keep_the_raw_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    config = OptimizationConfig(
        Objective(Metric("f"), minimize=True),
        outcome_constraints=[OutcomeConstraint(Metric("c"), ComparisonOp.LEQ, 8.0)],
    )
    raw = fitted_targets(monkeypatch, config=config)
    kept = fitted_targets(monkeypatch, config=config, output_copula=True)
    assert all(torch.equal(a, b) for a, b in zip(raw, kept, strict=True))
