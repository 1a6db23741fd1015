"""Which acquisition function to maximize, given the model and the outcome spec.

- one objective: qLogNEI [Ament2023logei],
  `alpha(x) = log E[ softplus( max(f(x)) - max f(X_baseline + X_pending) ) * P_feas ]`,
  the pending arms counted as already-evaluated incumbents, so a parallel batch
  spreads out instead of repeating the same point;
- several objectives: qLogNEHVI, the log expected hypervolume improvement over
  the front of `X_baseline + X_pending` (both sets) w.r.t. a reference point;
- outcome constraints: both weight improvement by a smoothed feasibility
  indicator `prod_k sigmoid(-c_k(y) / eta)` computed on joint posterior samples;
- no observed arm feasible yet: improvement is undefined, so maximize
  `log P(any of x, X_pending is feasible)` (qLogPF) to find the feasible region.

All are Monte-Carlo estimates with a seeded quasi-random sampler, hence
deterministic for a given seed.

BoTorch JIT-compiles a C++ kernel for qLogNEHVI the first time one is built
(minutes, needs a compiler, `-march=native`): inside a running optimization
loop that is a multi-minute stall on every fresh host. Unless a prebuilt
kernel is installed, we skip the compilation and use BoTorch's PyTorch path.
"""

from __future__ import annotations

import importlib.util

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.logei import (
    qLogNoisyExpectedImprovement,
    qLogProbabilityOfFeasibility,
)
from botorch.acquisition.multi_objective import logei as _mo_logei
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.acquisition.utils import prune_inferior_points
from botorch.models.model import Model
from botorch.sampling import SobolQMCNormalSampler
from torch import Tensor

from scheduler.generation.botorch.outcomes import OutcomeSpec


def _skip_kernel_compilation() -> None:
    """Mark BoTorch's lazy kernel load as done unless a prebuilt kernel exists."""
    if importlib.util.find_spec("logei_fused_ext") is None and hasattr(
        _mo_logei, "_load_attempted"
    ):
        _mo_logei._load_attempted = True


_skip_kernel_compilation()


def prune_once(model: Model, spec: OutcomeSpec, X_baseline: Tensor) -> Tensor | None:
    """The baseline points that may be the best (BoTorch's `prune_inferior_points`),
    for qLogNEI to reuse over a batch; None where qLogNEI is not the rule.

    qLogNEI prunes its baseline every time it is built, i.e. once per proposed
    arm, drawing 2,048 joint posterior samples over the whole baseline; on a
    large experiment pruning once per batch saves ~0.05 s per arm (the model
    and the baseline do not change within a batch, only the pending arms).
    """
    if spec.num_objectives != 1:
        return None
    return prune_inferior_points(
        model=model,
        X=X_baseline,
        objective=_signed_objective(spec.objective_signs[0]),
        constraints=spec.constraint_callables() or None,
    )


def build_acquisition(
    model: Model,
    spec: OutcomeSpec,
    X_baseline: Tensor,
    X_pending: Tensor | None,
    any_feasible: bool,
    ref_point: Tensor | None,
    mc_samples: int,
    seed: int,
    prune_baseline: bool = True,
) -> AcquisitionFunction:
    """The acquisition function for the current state (see the module docstring).

    `prune_baseline=False` takes `X_baseline` as already pruned (`prune_once`)
    for qLogNEI; qLogNEHVI always prunes its own.
    """
    sampler = SobolQMCNormalSampler(torch.Size([mc_samples]), seed=seed)
    constraints = spec.constraint_callables() or None
    if constraints is not None and not any_feasible:
        return qLogProbabilityOfFeasibility(
            model=model, constraints=constraints, sampler=sampler, X_pending=X_pending
        )
    if spec.num_objectives == 1:
        return qLogNoisyExpectedImprovement(
            model=model,
            X_baseline=X_baseline,
            sampler=sampler,
            objective=_signed_objective(spec.objective_signs[0]),
            X_pending=X_pending,
            constraints=constraints,
            prune_baseline=prune_baseline,
        )
    if ref_point is None:
        raise ValueError("multi-objective acquisition needs a reference point")
    objective = WeightedMCMultiOutputObjective(
        weights=torch.tensor(spec.objective_signs, dtype=X_baseline.dtype),
        outcomes=list(range(spec.num_objectives)),
        num_outcomes=len(spec.metric_names),
    )
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref_point,
        X_baseline=X_baseline,
        sampler=sampler,
        objective=objective,
        constraints=constraints,
        X_pending=X_pending,
        prune_baseline=True,
    )


def _signed_objective(sign: float) -> GenericMCObjective:
    """The single objective in maximization form."""

    def signed(Y: Tensor, X: Tensor | None = None) -> Tensor:
        return sign * Y[..., 0]

    return GenericMCObjective(signed)
