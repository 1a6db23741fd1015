"""Leaving a stalled incumbent's basin (`escape=`): when, where, and which arms."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement

from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.generation import GenerationContext
from scheduler.generation.botorch.escape import (
    EscapeSettings,
    ExcludedBasin,
    is_escaping_turn,
    is_stalled,
    plan_escape,
)
from tests.generation.helpers import branin, branin_space, generator
from tests.generation.test_exploration import acquisitions_used, branin_experiment

#: Every arm escapes and any incumbent counts as stalled: the behaviour under test.
ALWAYS: dict[str, Any] = {"escape_every": 1, "escape_window": 1, "escape_tolerance": 1.0}
CUBE = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)


def unit(p: dict[str, Any]) -> torch.Tensor:
    """Branin's arm in the unit cube (x1 in [-5, 10], x2 in [0, 15])."""
    return torch.tensor([(p["x1"] + 5) / 15, p["x2"] / 15], dtype=torch.double)


def incumbent(experiment: Any) -> torch.Tensor:
    best = min(experiment.trials.values(), key=lambda t: branin(t.arm.parameters))
    return unit(best.arm.parameters)


def test_a_stall_is_no_gain_beyond_the_tolerance_over_the_window() -> None:
    assert is_stalled([0.0, 1.0, 0.5, 0.9, 1.0], window=3, tolerance=1e-3)
    assert not is_stalled([0.0, 1.0, 0.5, 0.9, 1.1], window=3, tolerance=1e-3)
    assert is_stalled([0.0, 1.0, 0.5, 0.9, 1.1], window=3, tolerance=0.2)  # 0.1 of 1.1
    assert not is_stalled([0.0, 1.0, 1.0], window=3, tolerance=1.0)  # too few to tell


def test_escaping_turns_follow_the_ordinal() -> None:
    assert [i for i in range(9) if is_escaping_turn(i, 3)] == [2, 5, 8]
    assert all(is_escaping_turn(i, 1) for i in range(4))


def test_no_plan_while_the_incumbent_improves_or_with_the_rule_off() -> None:
    X = torch.rand(6, 2, dtype=torch.double)
    improving = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert plan_escape(EscapeSettings("exclude", window=3), X, improving, CUBE) is None
    assert plan_escape(EscapeSettings(None, window=3), X, [1.0] * 6, CUBE) is None


def test_the_region_is_a_clamped_box_around_the_best_arm_outside_the_ball() -> None:
    X = torch.tensor([[0.9, 0.9], [0.85, 0.9], [0.1, 0.05], [0.5, 0.5]], dtype=torch.double)
    values = [1.0, 0.9, 0.8, 0.1]  # best at (0.9, 0.9); its neighbour is inside the ball
    settings = EscapeSettings("region", window=1, tolerance=1.0, radius=0.2, region=0.4)
    plan = plan_escape(settings, X, values, CUBE)
    assert plan is not None
    assert plan.radius == pytest.approx(0.2 * math.sqrt(2))
    assert torch.equal(plan.incumbent, X[0])
    expected = torch.tensor([[0.0, 0.0], [0.3, 0.25]], dtype=torch.double)
    assert torch.allclose(plan.bounds, expected)


def test_the_exclusion_penalizes_the_ball_and_leaves_the_rest_alone() -> None:
    experiment = branin_experiment(10)
    context = GenerationContext.from_experiment(experiment)
    step = generator(branin_space(), escape="exclude", **ALWAYS)
    make_acqf, _, plan = step._prepare(context, seed=0)
    assert plan is not None
    base = make_acqf(None, False)
    excluded = ExcludedBasin(base, plan)
    inside = plan.incumbent.reshape(1, 1, 2)
    far = (1 - plan.incumbent).reshape(1, 1, 2)  # the opposite corner
    with torch.no_grad():
        assert float(excluded(inside)) < float(base(inside)) - 5  # sigmoid(-10) ~ 5e-5
        assert float(excluded(far)) == pytest.approx(float(base(far)), abs=1e-3)


def test_a_stalled_step_proposes_arms_outside_the_incumbents_basin() -> None:
    experiment = branin_experiment(10)
    context = GenerationContext.from_experiment(experiment)
    radius = 0.2 * math.sqrt(2)
    for rule in ("exclude", "region"):
        proposals = generator(branin_space(), escape=rule, **ALWAYS).gen(3, context)
        for p in proposals:
            assert float((unit(p) - incumbent(experiment)).norm()) > 0.9 * radius


def test_without_a_stall_every_arm_is_plain_qlognei(monkeypatch: pytest.MonkeyPatch) -> None:
    # A window of 20 with 8 observations: too few to tell a stall, so no arm escapes.
    used = acquisitions_used(
        monkeypatch, branin_experiment(), 3, escape="exclude", escape_every=1, escape_window=20
    )
    assert all(isinstance(a, qLogNoisyExpectedImprovement) for a in used)
    used = acquisitions_used(monkeypatch, branin_experiment(), 3, escape="exclude", **ALWAYS)
    assert all(isinstance(a, ExcludedBasin) for a in used)


def test_an_unknown_escape_rule_is_a_named_error_that_lists_the_choices() -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match="'exclude', 'region'"):
        generator(branin_space(), escape="jump")
