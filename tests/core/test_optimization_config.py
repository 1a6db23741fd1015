"""Objectives, outcome constraints and the optimization config."""

from __future__ import annotations

import pytest

from scheduler import (
    ComparisonOp,
    Metric,
    MultiObjective,
    Objective,
    ObjectiveThreshold,
    OptimizationConfig,
    OutcomeConstraint,
)
from scheduler.core import InvalidOptimizationConfigError


def test_objective_needs_a_metric_instance_not_a_name() -> None:
    with pytest.raises(InvalidOptimizationConfigError, match=r"Metric\(name='loss'\)"):
        Objective(metric="loss")  # type: ignore[arg-type]


def test_multi_objective_needs_two_objectives() -> None:
    with pytest.raises(InvalidOptimizationConfigError, match="at least 2 objectives"):
        MultiObjective([Objective(Metric("a"))])


def test_relative_constraints_are_refused_with_an_alternative() -> None:
    with pytest.raises(InvalidOptimizationConfigError, match="relative=False"):
        OutcomeConstraint(Metric("cost"), ComparisonOp.LEQ, bound=1.0, relative=True)


def test_objective_metrics_must_be_distinct() -> None:
    objective = MultiObjective([Objective(Metric("a")), Objective(Metric("a"))])
    with pytest.raises(InvalidOptimizationConfigError, match="must be distinct"):
        OptimizationConfig(objective)


def test_a_metric_cannot_be_objective_and_constraint() -> None:
    with pytest.raises(InvalidOptimizationConfigError, match="both an objective and"):
        OptimizationConfig(
            Objective(Metric("loss")),
            outcome_constraints=[OutcomeConstraint(Metric("loss"), ComparisonOp.LEQ, 1.0)],
        )


def test_threshold_must_be_on_an_objective() -> None:
    objective = MultiObjective([Objective(Metric("a")), Objective(Metric("b"))])
    with pytest.raises(InvalidOptimizationConfigError, match="not an objective"):
        OptimizationConfig(objective, objective_thresholds=[ObjectiveThreshold(Metric("c"), 1.0)])


def test_outcome_constraint_directions() -> None:
    at_most = OutcomeConstraint(Metric("cost"), ComparisonOp.LEQ, bound=5.0)
    at_least = OutcomeConstraint(Metric("accuracy"), ComparisonOp.GEQ, bound=0.9)
    assert at_most.is_satisfied(5.0) and not at_most.is_satisfied(5.1)
    assert at_least.is_satisfied(0.95) and not at_least.is_satisfied(0.8)


def test_config_lists_every_metric_it_needs() -> None:
    config = OptimizationConfig(
        Objective(Metric("loss"), minimize=True),
        outcome_constraints=[OutcomeConstraint(Metric("cost"), ComparisonOp.LEQ, 5.0)],
    )
    assert sorted(config.metrics) == ["cost", "loss"]
    assert not config.is_multi_objective
    assert [o.metric.name for o in config.objectives] == ["loss"]


def test_multi_objective_config() -> None:
    config = OptimizationConfig(
        MultiObjective([Objective(Metric("a"), minimize=True), Objective(Metric("b"))])
    )
    assert config.is_multi_objective
    assert [o.metric.name for o in config.objectives] == ["a", "b"]
    assert config.objective.minimize  # the first objective's direction
