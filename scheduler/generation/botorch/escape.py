"""Leaving a local basin: a targeted move away from a stalled incumbent.

qLogNEI is greedy: once the GP has found one basin the expected improvement
anywhere else is nearly zero, so a run that finds a local basin first refines
it for its whole budget (Hartmann6 at 40 trials: 9 of 20 seeds stay in the
second basin, f = -3.20, and none of their BO trials comes within 0.3 of the
global minimizer). Exploring on a fixed share of the arms (Thompson sampling,
qUCB; `exploration`) lost: it costs the converging seeds their refinement and
rarely reaches the other basin. This module makes the move targeted and
conditional instead:

- only while the incumbent *stalls* (`is_stalled`: the best observed value
  gained at most `tolerance` of the observed range over the last `window`
  observations), and only on every `every`-th arm (by ordinal among the
  trials, as `exploration.is_exploring_turn`), so a run that still improves
  is not touched and a stalled one keeps refining on the other arms;
- `"exclude"`: that arm maximizes the same qLogNEI multiplied by a soft
  exclusion of the incumbent's basin, `sigmoid((||x - x_best|| - r) / s)`
  (in log space: added to log EI). This is local penalization (Gonzalez et
  al. 2016, "Batch Bayesian optimization via local penalization") applied to
  the incumbent rather than to pending points: the penalizer removes the
  basin the greedy rule is stuck in, and log EI (Ament et al. 2023) still
  ranks the rest of the space where plain EI underflows to zero. Once an
  escaped arm finds a promising region, later escape arms may refine it
  (it is the best region outside the ball) until it beats the incumbent;
- `"region"`: that arm maximizes qLogNEI inside a box of side `region`
  (unit cube) around the best observed arm outside the ball, a second trust
  region in the spirit of TuRBO's restarts (Eriksson et al. 2019, "Scalable
  global optimization via local Bayesian optimization") without its
  bookkeeping: the local search starts from the next-best basin the data has
  seen, not from a random point.

`r = radius * sqrt(d)` (a fraction of the unit cube's diagonal; d counts the
relaxed dimensions). Several objectives have no single incumbent: the rule
does not apply to them.

Off by default: on Hartmann6@40 (`bench/README.md`, issue 16) no setting
lowered the stuck count without costing converging seeds their refinement.
The stall test rarely fires on a stuck seed (the second basin keeps yielding
small gains), and escaped arms with `radius` 0.2 (0.49 in 6-d) land just
outside the ball, still on the second basin's slope; with 0.35 they cross
and rescue a few seeds but lose others'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from botorch.acquisition import AcquisitionFunction
from torch import Tensor
from torch.nn.functional import logsigmoid

#: The rules a generation step may ask for (`escape=`).
ESCAPE_RULES = ("exclude", "region")


@dataclass(frozen=True)
class EscapeSettings:
    """How and when an arm leaves a stalled incumbent's basin (module docstring)."""

    rule: str | None = None
    every: int = 3
    radius: float = 0.2
    window: int = 5
    tolerance: float = 1e-3
    region: float = 0.4
    #: Softness of the exclusion's edge, as a fraction of the radius.
    softness: float = 0.1

    def __post_init__(self) -> None:
        if self.rule is not None and self.rule not in ESCAPE_RULES:
            raise ValueError(
                f"escape={self.rule!r} is not known; use None or one of "
                f"{', '.join(repr(r) for r in ESCAPE_RULES)}"
            )
        if self.radius <= 0 or self.window < 1 or self.region <= 0 or self.softness <= 0:
            raise ValueError(
                "escape_radius, escape_region and the softness must be positive and "
                "escape_window at least 1"
            )


@dataclass(frozen=True)
class EscapePlan:
    """Where an escaping arm goes: away from `incumbent` (`d`), within `bounds`
    (`2 x d`; the whole cube for `"exclude"`)."""

    incumbent: Tensor
    radius: float
    softness: float
    bounds: Tensor


def is_stalled(values: Sequence[float], window: int, tolerance: float) -> bool:
    """Whether the best of `values` (maximized, in observation order) gained at
    most `tolerance` of their range over the last `window` of them."""
    if len(values) <= window:
        return False
    best, before = max(values), max(values[:-window])
    span = best - min(values)
    return best - before <= tolerance * span


def plan_escape(
    settings: EscapeSettings, X: Tensor, values: Sequence[float], bounds: Tensor
) -> EscapePlan | None:
    """The escape plan for observed arms `X` (`n x d`, unit cube) with maximized
    objective `values` (feasible arms only, in observation order), or None when
    the rule is off or the incumbent still improves."""
    if settings.rule is None or X.shape[0] == 0:
        return None
    if not is_stalled(values, settings.window, settings.tolerance):
        return None
    value = torch.tensor(list(values), dtype=X.dtype)
    incumbent = X[int(torch.argmax(value))]
    radius = settings.radius * math.sqrt(X.shape[-1])
    softness = settings.softness * radius
    if settings.rule == "region":
        outside = (X - incumbent).norm(dim=-1) > radius
        if bool(outside.any()):
            centre = X[outside][int(torch.argmax(value[outside]))]
            half = settings.region / 2
            box = torch.stack([centre - half, centre + half])
            box = torch.maximum(torch.minimum(box, bounds[1]), bounds[0])
            return EscapePlan(incumbent, radius, softness, box)
    return EscapePlan(incumbent, radius, softness, bounds)


def is_escaping_turn(ordinal: int, every: int) -> bool:
    """Whether the arm with this 0-based ordinal among all trials may escape:
    every `every`-th (ordinals `every - 1, 2 every - 1, ...`); 1 means all."""
    return every >= 1 and ordinal % every == every - 1


class ExcludedBasin(AcquisitionFunction):
    """`base(X) + sum_j log sigmoid((||x_j - incumbent|| - r) / s)` for a log-space
    `base` acquisition function (qLogNEI, qLogPF): the base value times a soft
    indicator of being outside the incumbent's ball (local penalization)."""

    def __init__(self, base: AcquisitionFunction, plan: EscapePlan) -> None:
        super().__init__(model=base.model)
        self.base = base
        self.plan = plan

    def forward(self, X: Tensor) -> Tensor:
        distance = (X - self.plan.incumbent.to(X)).norm(dim=-1)
        penalty = logsigmoid((distance - self.plan.radius) / self.plan.softness).sum(-1)
        return self.base(X) + penalty
