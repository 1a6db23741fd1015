"""Exploring batch members: which arms are drawn by Thompson sampling or qUCB."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.monte_carlo import qUpperConfidenceBound
from botorch.acquisition.thompson_sampling import PathwiseThompsonSampling

import scheduler.generation.botorch.generator as botorch_step
from scheduler import (
    ComparisonOp,
    Experiment,
    Metric,
    Objective,
    OptimizationConfig,
    OutcomeConstraint,
)
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.generation import GenerationContext
from scheduler.generation.botorch.exploration import is_exploring_turn
from tests.generation.helpers import (
    branin,
    branin_space,
    fallback_messages,
    generator,
    minimize,
    mixed_objective,
    mixed_space,
    observe,
    sobol_arms,
)


def acquisitions_used(
    monkeypatch: pytest.MonkeyPatch, experiment: Experiment, n: int, **kwargs: Any
) -> list[object]:
    """The acquisition function each of `n` proposals was optimized with."""
    used: list[object] = []
    original = botorch_step.propose_continuous

    def spy(acqf: object, *args: Any, **kw: Any) -> Any:
        used.append(acqf)
        return original(acqf, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(botorch_step, "propose_continuous", spy)
    context = GenerationContext.from_experiment(experiment)
    proposals = generator(experiment.search_space, **kwargs).gen(n, context)
    assert len(proposals) == n
    assert all(experiment.search_space.check_membership(p) for p in proposals)
    assert len({tuple(sorted(p.items())) for p in proposals}) == n
    return used


def branin_experiment(n: int = 8, config: OptimizationConfig | None = None) -> Experiment:
    experiment = Experiment("branin", branin_space(), config or minimize())

    def evaluate(p: dict[str, Any]) -> dict[str, Any]:
        return {"f": (branin(p), 0.0), "c": (float(p["x1"]), 0.0)}

    observe(experiment, evaluate, sobol_arms(branin_space(), n))
    return experiment


def test_thompson_explores_by_qucb_under_the_mixed_kernel_of_a_choice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sample paths need one stationary kernel; the mixed kernel of an unordered
    # choice has none, and a failed path would have made the rest of the batch Sobol.
    experiment = Experiment("mixed", mixed_space(), minimize())
    observe(experiment, lambda p: {"f": (mixed_objective(p), 0.0)}, sobol_arms(mixed_space(), 8))
    used = acquisitions_used(monkeypatch, experiment, 4, explore="thompson", explore_every=3)
    kinds = [type(a) for a in used]
    assert kinds == [
        qUpperConfidenceBound,
        qLogNoisyExpectedImprovement,
        qLogNoisyExpectedImprovement,
        qUpperConfidenceBound,
    ]


def test_a_failing_exploring_rule_costs_only_its_arm_not_the_batch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A rule that breaks (a kernel it cannot draw from, a numerical failure)
    # used to send the rest of the batch to Sobol; now its arm is qLogNEI's.
    def broken_rule(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("cannot draw a sample path")

    monkeypatch.setattr(botorch_step, "build_exploring_acquisition", broken_rule)
    with caplog.at_level(logging.WARNING):
        used = acquisitions_used(
            monkeypatch, branin_experiment(), 4, explore="thompson", explore_every=3
        )
    assert [type(a) for a in used] == [qLogNoisyExpectedImprovement] * 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # ordinals 8 and 11
    assert all("exploring arm failed" in w and "cannot draw a sample path" in w for w in warnings)
    assert not fallback_messages(caplog)


def test_every_kth_arm_by_ordinal_explores() -> None:
    assert [i for i in range(9) if is_exploring_turn(i, 3)] == [2, 5, 8]
    assert not any(is_exploring_turn(i, None) for i in range(9))
    assert not any(is_exploring_turn(i, 1) for i in range(9))


def test_without_explore_every_arm_is_qlognei(monkeypatch: pytest.MonkeyPatch) -> None:
    used = acquisitions_used(monkeypatch, branin_experiment(), 4)
    assert all(isinstance(a, qLogNoisyExpectedImprovement) for a in used)


def test_thompson_draws_every_kth_member_of_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 observed trials: the batch's ordinals are 8, 9, 10, 11; with k = 3, 8 and 11 explore.
    used = acquisitions_used(
        monkeypatch, branin_experiment(), 4, explore="thompson", explore_every=3
    )
    kinds = [type(a) for a in used]
    assert kinds == [
        PathwiseThompsonSampling,
        qLogNoisyExpectedImprovement,
        qLogNoisyExpectedImprovement,
        PathwiseThompsonSampling,
    ]


def test_ucb_member_sees_the_pending_arms_and_honours_beta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used = acquisitions_used(
        monkeypatch, branin_experiment(), 2, explore="ucb", explore_every=2, explore_beta=9.0
    )
    ucb = used[1]  # ordinal 9
    assert isinstance(used[0], qLogNoisyExpectedImprovement)
    assert isinstance(ucb, qUpperConfidenceBound)
    assert ucb.beta_prime == pytest.approx(math.sqrt(9.0 * math.pi / 2))
    assert ucb.X_pending is not None and ucb.X_pending.shape[0] == 1


def test_outcome_constraints_keep_their_acquisition_on_exploring_turns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = OptimizationConfig(
        Objective(Metric("f"), minimize=True),
        outcome_constraints=[OutcomeConstraint(Metric("c"), ComparisonOp.LEQ, 8.0)],
    )
    used = acquisitions_used(
        monkeypatch, branin_experiment(config=config), 2, explore="thompson", explore_every=2
    )
    assert not any(isinstance(a, PathwiseThompsonSampling) for a in used)


def test_an_unknown_exploring_rule_is_a_named_error_that_lists_the_choices() -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match="'thompson', 'ucb'"):
        generator(branin_space(), explore="random")
