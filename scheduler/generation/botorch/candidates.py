"""Turn an acquisition function into one new, valid arm.

Continuous and mixed spaces: multi-start L-BFGS-B (SLSQP under linear
constraints) over the relaxed unit cube via `optimize_acqf`, keeping every
restart's end point. Each end point is projected onto the values the search
space can take (integers rounded, one-hot arg-maxed), the projections are
re-scored with the acquisition function, and the best one that lies in the
search space and is not an existing or pending arm wins. Re-scoring after the
projection matters: the relaxed optimum of a discrete parameter can round to a
poor value while another restart rounds to a good one.

Under linear constraints the optimizer's starting points are drawn by
rejection: Sobol points of the cube that meet the constraints, Boltzmann-sampled
by acquisition value (`initialize_q_batch`). This is far cheaper than BoTorch's
default hit-and-run polytope sampler; that sampler is still used when the
feasible region is too small for rejection to find enough points.

All-discrete spaces small enough to enumerate are searched exhaustively instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.optim import optimize_acqf
from botorch.optim.initializers import initialize_q_batch
from botorch.utils.sampling import draw_sobol_samples
from torch import Tensor

from scheduler.core.parameters import TParameterization
from scheduler.generation.botorch.encoding import UnitCubeEncoder

ArmKey = tuple[float, ...]


@dataclass(frozen=True)
class OptimizerSettings:
    """Budget of the acquisition optimizer (per proposed arm).

    One evaluation of qLogNEI with its gradient costs ~6 ms at 6 dimensions and
    40 observations whatever the batch of restarts, so the time goes with the
    number of L-BFGS-B iterations (`maxiter`), not with `num_restarts`. After
    10 iterations the best restart's (log) acquisition value is within ~3e-3 of
    a fully converged run's, at half the cost; larger budgets (20 restarts,
    1,024 raw samples, 200 iterations) did not improve the final gaps of
    `bench/bo_quality.py`.
    """

    num_restarts: int = 8
    raw_samples: int = 256
    maxiter: int = 10
    #: Add raw samples perturbed around the incumbent best arms. Off: on Branin it
    #: slowed convergence (median final gap 0.0033 vs 0.0007 over 5 seeds).
    sample_around_best: bool = False
    #: Line-search steps per L-BFGS-B iteration; a failing search stops the restart early.
    maxls: int = 20
    #: Enumerate all-discrete spaces with at most this many points.
    max_discrete_points: int = 4096
    eval_batch: int = 512


def propose_continuous(
    acqf: AcquisitionFunction,
    encoder: UnitCubeEncoder,
    settings: OptimizerSettings,
    taken: set[ArmKey],
    bounds: Tensor | None = None,
) -> TParameterization | None:
    """The best projected restart that is a new arm inside the space, or None.

    `bounds` (`2 x d`, inside the unit cube) narrows the search to a box.
    """
    bounds = encoder.bounds if bounds is None else bounds
    constraints = encoder.inequality_constraints() or None
    starts = None if constraints is None else _feasible_starts(acqf, bounds, encoder, settings)
    X, _ = optimize_acqf(
        acq_function=acqf,
        bounds=bounds,
        q=1,
        num_restarts=settings.num_restarts,
        raw_samples=None if starts is not None else settings.raw_samples,
        options={
            "maxiter": settings.maxiter,
            "sample_around_best": settings.sample_around_best,
            **({"maxls": settings.maxls} if constraints is None else {}),
        },
        inequality_constraints=constraints,
        batch_initial_conditions=starts,
        return_best_only=False,
        retry_on_optimization_warning=False,
    )
    projected = encoder.round(X.detach())
    with torch.no_grad():
        values = acqf(projected)
    for i in torch.argsort(values, descending=True).tolist():
        parameters = encoder.decode(projected[i, 0])
        if _is_new_and_valid(parameters, encoder, taken):
            return parameters
    return None


def _feasible_starts(
    acqf: AcquisitionFunction,
    bounds: Tensor,
    encoder: UnitCubeEncoder,
    settings: OptimizerSettings,
) -> Tensor | None:
    """`num_restarts x 1 x d` starting points inside the linear constraints, or None."""
    X = draw_sobol_samples(bounds, n=settings.raw_samples, q=1)
    feasible = torch.ones(X.shape[0], dtype=torch.bool)
    for indices, coefficients, rhs in encoder.inequality_constraints():
        feasible &= (X[:, 0, indices] * coefficients).sum(-1) >= rhs
    X = X[feasible]
    if X.shape[0] < 2 * settings.num_restarts:
        return None
    with torch.no_grad():
        values = torch.cat([acqf(chunk) for chunk in X.split(settings.eval_batch)])
    starts, _ = initialize_q_batch(X, values, settings.num_restarts)
    return starts


def propose_discrete(
    acqf: AcquisitionFunction,
    encoder: UnitCubeEncoder,
    settings: OptimizerSettings,
    points: list[TParameterization],
    taken: set[ArmKey],
) -> TParameterization | None:
    """The untaken point of an enumerated space with the largest acquisition value."""
    fresh = [p for p in points if encoder.key(p) not in taken]
    if not fresh:
        return None
    X = encoder.encode_many(fresh).unsqueeze(-2)
    with torch.no_grad():
        values = torch.cat([acqf(chunk) for chunk in X.split(settings.eval_batch)])
    return fresh[int(torch.argmax(values))]


def _is_new_and_valid(
    parameters: TParameterization, encoder: UnitCubeEncoder, taken: set[ArmKey]
) -> bool:
    if not encoder.search_space.check_membership(parameters):
        return False
    return encoder.key(parameters) not in taken


def as_pending(encoder: UnitCubeEncoder, arms: list[TParameterization]) -> Tensor | None:
    """Encode the arms that can be encoded; None when there are none."""
    usable = [a for a in arms if encoder.can_encode(a)]
    return encoder.encode_many(usable) if usable else None
