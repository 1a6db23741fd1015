"""The large-data regime of the BoTorch step: a subset-of-data GP beyond a threshold.

Small thresholds stand in for the default 300 so that the tests stay fast;
the code path is the same.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated

import scheduler.generation.botorch.generator as botorch_step
from scheduler import (
    ComparisonOp,
    Experiment,
    Metric,
    MultiObjective,
    Objective,
    ObjectiveThreshold,
    OptimizationConfig,
    OutcomeConstraint,
)
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.generation import GenerationContext
from scheduler.generation.botorch.candidates import OptimizerSettings
from scheduler.generation.botorch.gp import MetricObservations
from scheduler.generation.botorch.large_data import LargeData
from scheduler.generation.botorch.outcomes import OutcomeSpec
from scheduler.generation.botorch.subset import BEST_SHARE, LOCAL_SHARE, restrict, select_trials
from tests.generation.helpers import (
    branin,
    branin_space,
    generator,
    minimize,
    mixed_objective,
    mixed_space,
    observe,
    sobol_arms,
)
from tests.support.values import number

SMALL = {"large_data_threshold": 40, "large_data_fit_points": 24}


def branin_experiment(n: int, pending: int = 0) -> Experiment:
    experiment = Experiment("branin", branin_space(), minimize())
    arms = sobol_arms(branin_space(), n + pending)
    observe(experiment, lambda p: {"f": (branin(p), 0.0)}, arms[:n])
    for arm in arms[n:]:
        experiment.new_trial(arm, generation_step="Sobol").mark_running()
    return experiment


@pytest.fixture
def fitted_sizes(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Records the trial indices of every metric the real `fit_models` fits on."""
    seen: list[list[int]] = []
    real = botorch_step.fit_models

    def recording(observations: list[MetricObservations], *args: Any, **kwargs: Any) -> Any:
        seen.extend(list(o.trial_indices) for o in observations)
        return real(observations, *args, **kwargs)

    monkeypatch.setattr(botorch_step, "fit_models", recording)
    return seen


def test_at_or_below_the_threshold_the_model_sees_every_trial(
    fitted_sizes: list[list[int]],
) -> None:
    experiment = branin_experiment(40)
    context = GenerationContext.from_experiment(experiment)
    generator(experiment.search_space, **SMALL).gen(1, context)
    assert fitted_sizes == [list(range(40))]


def test_below_the_threshold_proposals_are_those_of_the_exact_gp() -> None:
    experiment = branin_experiment(30, pending=2)
    context = GenerationContext.from_experiment(experiment)
    default = generator(experiment.search_space).gen(3, context)
    exact = generator(experiment.search_space, large_data_threshold=None).gen(3, context)
    assert default == exact


def test_beyond_the_threshold_the_model_is_fitted_on_the_subset_including_the_best(
    fitted_sizes: list[list[int]],
) -> None:
    experiment = branin_experiment(60, pending=4)
    context = GenerationContext.from_experiment(experiment)
    proposals = generator(experiment.search_space, **SMALL).gen(4, context)
    assert len(fitted_sizes) == 1
    fitted = fitted_sizes[0]
    assert len(fitted) == SMALL["large_data_fit_points"] == len(set(fitted))
    values = {t.index: branin(t.arm.parameters) for t in context.observed_trials}
    assert min(values, key=values.__getitem__) in fitted
    _assert_new_valid_distinct(experiment, context, proposals, 4)


def test_beyond_the_threshold_constraints_and_discrete_parameters_hold() -> None:
    space = mixed_space()
    experiment = Experiment("mixed", space, minimize())
    arms = sobol_arms(space, 50)
    observe(experiment, lambda p: {"f": mixed_objective(p)}, arms[:45])
    for arm in arms[45:]:
        experiment.new_trial(arm, generation_step="Sobol").mark_running()
    context = GenerationContext.from_experiment(experiment)
    proposals = generator(space, large_data_threshold=30, large_data_fit_points=16).gen(3, context)
    _assert_new_valid_distinct(experiment, context, proposals, 3)
    for p in proposals:
        assert number(p["x1"]) + number(p["x2"]) <= 1.5 + 1e-9


def _assert_new_valid_distinct(
    experiment: Experiment, context: GenerationContext, proposals: list[Any], n: int
) -> None:
    assert len(proposals) == n
    known = [dict(t.arm.parameters) for t in experiment.trials.values()]
    assert all(experiment.search_space.check_membership(p) for p in proposals)
    assert all(p not in known for p in proposals)  # neither observed nor pending
    assert len({tuple(sorted(p.items())) for p in proposals}) == n
    assert context.pending  # the experiments above do have pending arms


def test_the_threshold_may_not_be_below_the_subset_size() -> None:
    with pytest.raises(InvalidSchedulerOptionsError, match="threshold"):
        generator(branin_space(), large_data_threshold=10, large_data_fit_points=20)


def test_the_large_data_budget_caps_but_never_raises_the_optimizer_settings() -> None:
    policy = LargeData(threshold=300, fit_points=100)
    assert not policy.applies(300) and policy.applies(301)
    assert not LargeData(threshold=None).applies(10**6)
    capped = policy.optimizer_settings(OptimizerSettings(num_restarts=8, raw_samples=64))
    assert (capped.num_restarts, capped.raw_samples, capped.maxiter) == (4, 64, 5)
    assert policy.capped_mc_samples(32) == 32 and policy.capped_mc_samples(128) == 64


# -- subset selection ------------------------------------------------------------


def _grid(n: int, d: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.double)


def test_select_keeps_everything_up_to_the_limit() -> None:
    X = _grid(10)
    spec = OutcomeSpec.from_config(minimize())
    means = {i: {"f": float(i)} for i in range(10)}
    assert select_trials(X, list(range(10)), means, spec, 10) == list(range(10))


def test_select_keeps_the_best_and_the_incumbents_neighbours() -> None:
    n, k = 400, 40
    X = _grid(n)
    centre = torch.tensor([0.7, 0.2], dtype=torch.double)
    f = (X - centre).norm(dim=-1) + 0.01 * X[:, 0]  # minimized near `centre`
    means = {100 + i: {"f": float(f[i])} for i in range(n)}
    indices = list(range(100, 100 + n))  # trial indices need not be row numbers
    keep = select_trials(X, indices, means, OutcomeSpec.from_config(minimize()), k)
    assert len(keep) == k == len(set(keep)) and keep == sorted(keep)
    best = torch.argsort(f)[: int(BEST_SHARE * k)].tolist()
    assert {100 + i for i in best} <= set(keep)
    incumbent = int(torch.argmin(f))
    near = torch.argsort((X - X[incumbent]).norm(dim=-1))[: int(LOCAL_SHARE * k)]
    assert {100 + i for i in near.tolist()} <= set(keep)
    far = [i - 100 for i in keep if (X[i - 100] - centre).norm() > 0.5]
    assert far, "the space-filling part reaches far from the incumbent"


def test_select_ranks_feasible_trials_first() -> None:
    n, k = 200, 20
    X = _grid(n)
    config = OptimizationConfig(
        Objective(Metric("f"), minimize=True),
        outcome_constraints=[OutcomeConstraint(Metric("c"), ComparisonOp.LEQ, 0.0)],
    )
    # The lowest f values are all infeasible; the best feasible one must be kept.
    means = {i: {"f": float(i), "c": 1.0 if i < 50 else -1.0} for i in range(n)}
    keep = select_trials(X, list(range(n)), means, OutcomeSpec.from_config(config), k)
    assert set(range(50, 50 + int(BEST_SHARE * k))) <= set(keep)


def test_select_keeps_the_pareto_front_of_several_objectives() -> None:
    n, k = 300, 40
    X = _grid(n)
    metrics = [Metric("a"), Metric("b")]
    config = OptimizationConfig(
        MultiObjective([Objective(m, minimize=True) for m in metrics]),
        objective_thresholds=[ObjectiveThreshold(m, 10.0) for m in metrics],
    )
    means = {i: {"a": float(X[i, 0]), "b": float(X[i, 1])} for i in range(n)}
    keep = select_trials(X, list(range(n)), means, OutcomeSpec.from_config(config), k)
    Y = -torch.tensor([[means[i]["a"], means[i]["b"]] for i in range(n)])
    front = torch.nonzero(is_non_dominated(Y)).flatten().tolist()
    assert len(front) <= int(BEST_SHARE * k)
    assert set(front) <= set(keep)


def test_restrict_keeps_rows_of_the_kept_trials_per_metric() -> None:
    X = _grid(5)
    Y = torch.arange(5, dtype=torch.double).reshape(-1, 1)
    obs = MetricObservations("f", X, Y, Y.clone(), [3, 5, 7, 9, 11])
    kept = restrict({"f": obs}, [5, 9, 10])["f"]
    assert kept.trial_indices == [5, 9]
    assert kept.Y.flatten().tolist() == [1.0, 3.0]
    assert kept.Yvar is not None and kept.X.shape == (2, 2)


def test_beyond_the_threshold_several_objectives_still_propose_new_arms(
    fitted_sizes: list[list[int]],
) -> None:
    metrics = [Metric("a"), Metric("b")]
    config = OptimizationConfig(
        MultiObjective([Objective(m, minimize=True) for m in metrics]),
        objective_thresholds=[
            ObjectiveThreshold(metrics[0], 300.0),
            ObjectiveThreshold(metrics[1], 40.0),
        ],
    )
    experiment = Experiment("two", branin_space(), config)
    arms = sobol_arms(branin_space(), 52)

    def both(p: Any) -> dict[str, Any]:
        return {"a": (branin(p), 0.0), "b": ((float(p["x1"]) - 2) ** 2 + float(p["x2"]), 0.0)}

    observe(experiment, both, arms[:50])
    for arm in arms[50:]:
        experiment.new_trial(arm, generation_step="Sobol").mark_running()
    context = GenerationContext.from_experiment(experiment)
    proposals = generator(experiment.search_space, **SMALL).gen(2, context)
    assert [len(f) for f in fitted_sizes] == [SMALL["large_data_fit_points"]] * 2  # a and b
    _assert_new_valid_distinct(experiment, context, proposals, 2)
