"""Exploring batch members: every `k`-th arm drawn by a more exploratory rule.

qLogNEI is greedy: once the GP has found one basin, the expected improvement
anywhere else is nearly zero (the posterior there is close to the prior mean,
below the incumbent), so a run that finds a local basin first can refine it
for its whole budget. Hartmann6 at 40 trials shows it: 8 of 20 seeds stayed in
the second basin (f = -3.20), none of their 28 BO trials within 0.3 of the
global minimizer. A larger acquisition-optimizer budget did not help: the
acquisition function itself sees nothing worth leaving for.

So one arm in every `explore_every` (by the arm's ordinal among the
experiment's trials, which is deterministic and spreads over a parallel batch
and over asynchronous one-at-a-time calls alike) is drawn by another rule;
the others stay qLogNEI, which keeps refining as tightly as before:

- `"thompson"`: Thompson sampling [Thompson1933]: maximize one posterior
  sample path `f ~ GP | data`, drawn by Matheron's rule over random Fourier
  features (`PathwiseThompsonSampling`, Wilson et al. 2020), so the path is a
  smooth function that L-BFGS-B optimizes like any acquisition. An arm goes
  where the model says the optimum *might* be with the probability the model
  gives it, which visits a second basin in proportion to its posterior mass.
  The path does not see pending arms; its own randomness spreads a batch.
  BoTorch draws such paths for a single stationary kernel only, so under the
  mixed kernel of an unordered choice (`gp.covariance_module`) the exploring
  arm is qUCB instead (a path cannot be drawn, and an exploring arm is what
  the user asked for). Any other failure of a rule costs its own arm only:
  the generator optimizes that arm by qLogNEI.
- `"ucb"`: qUCB, `E[max_j mu(x_j) + sqrt(beta pi / 2) |f(x_j) - mu(x_j)|]` over
  the arm and the pending arms (Wilson et al. 2017; for q = 1 this is
  `mu + sqrt(beta) sigma`), with `beta = explore_beta`.

Outcome constraints and several objectives keep their acquisition functions
for every arm (an explored arm has to respect them, which these rules do not
model).
"""

from __future__ import annotations

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.monte_carlo import qUpperConfidenceBound
from botorch.acquisition.objective import GenericMCObjective
from botorch.acquisition.thompson_sampling import PathwiseThompsonSampling
from botorch.models.model import Model
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.kernels import AdditiveKernel
from torch import Tensor

from scheduler.generation.botorch.outcomes import OutcomeSpec

#: The exploring rules a generation step may ask for (`explore=`).
EXPLORE_RULES = ("thompson", "ucb")


def is_exploring_turn(ordinal: int, every: int | None) -> bool:
    """Whether the arm with this 0-based ordinal among all trials explores.

    Every `every`-th arm does (ordinals `every - 1, 2 every - 1, ...`); None or
    values below 2 never (every arm exploring would stop refining).
    """
    return every is not None and every >= 2 and ordinal % every == every - 1


def build_exploring_acquisition(
    rule: str,
    model: Model,
    spec: OutcomeSpec,
    X_pending: Tensor | None,
    beta: float,
    mc_samples: int,
    seed: int,
) -> AcquisitionFunction | None:
    """The exploring acquisition function, or None when the rule does not apply
    (outcome constraints or several objectives: the caller keeps its own)."""
    if rule not in EXPLORE_RULES:
        raise ValueError(f"unknown exploring rule {rule!r}; use one of {', '.join(EXPLORE_RULES)}")
    if spec.num_objectives != 1 or spec.constraint_callables():
        return None
    sign = spec.objective_signs[0]

    def signed_objective(Y: Tensor, X: Tensor | None = None) -> Tensor:
        return sign * Y[..., 0]

    objective = GenericMCObjective(signed_objective)
    if rule == "thompson" and not isinstance(getattr(model, "covar_module", None), AdditiveKernel):
        return PathwiseThompsonSampling(model=model, objective=objective)
    sampler = SobolQMCNormalSampler(torch.Size([mc_samples]), seed=seed)
    return qUpperConfidenceBound(
        model=model, beta=beta, sampler=sampler, objective=objective, X_pending=X_pending
    )
