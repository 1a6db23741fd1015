"""The GP's prior mean: where an objective's model goes back to away from the data.

BoTorch fits a constant prior mean by marginal likelihood (`prior_mean="fitted"`,
the default). `"worst"` (the BoTorch step's `prior_mean=`) fixes it instead, for
each objective, at the worst value observed so far, one of the choices De Ath,
Fieldsend and Everson compared ("What do you mean? The role of the mean function
in Bayesian optimisation", GECCO 2020): away from the data the model expects nothing better
than the worst trial, so expected improvement stays near good trials. That
makes the search more exploitative. Constrained metrics keep the fitted constant.

Measured on `bench.bo_quality` (`bench/README.md`, issue 16, eighth round), it
is not the default: it wins where refinement pays and loses where exploration
does. Hartmann6 at 40 trials, seeds 0-119: mean final gap 0.0273 -> 0.0216,
seeds in the second basin 20 -> 17, and no seed above 0.21 (the fitted mean
leaves seeds at 0.25 and 0.53 that creep toward the optimum for the whole
budget). But Ackley10 at 100, seeds 0-29: 3.40 -> 3.73 (22 of 30 seeds worse),
and the mixed Hartmann6, seeds 0-39: 0.284 -> 0.385.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.models import SingleTaskGP
from gpytorch.means import Mean
from torch import Tensor

#: Prior means a BoTorch step may ask for (`prior_mean=`).
PRIOR_MEANS = ("fitted", "worst")
DEFAULT_PRIOR_MEAN = PRIOR_MEANS[0]

#: Per model output: +1.0 when its worst value is its largest (a minimized
#: objective), -1.0 when its smallest (a maximized one), None to fit its mean.
WorstSides = Sequence[float | None]


class WorstObservedMean(Mean):
    """A constant prior mean per output: fixed where `fixed` is set, else fitted.

    `worst` and `fixed` have the model's batch shape (one entry per output of
    a batched multi-output GP, a scalar for one output); `worst` is in the
    units the GP is trained on (after its outcome transform). The fitted
    entries are the trainable `raw_constant`, as in gpytorch's `ConstantMean`,
    so a previous fit's value warm-starts them; with every entry fixed there is
    no trainable parameter at all.
    """

    def __init__(self, worst: Tensor, fixed: Tensor) -> None:
        super().__init__()
        self.register_buffer("worst", worst.detach().clone())
        self.register_buffer("fixed", fixed.clone())
        self.raw_constant: torch.nn.Parameter | None = None
        if not bool(fixed.all()):
            self.raw_constant = torch.nn.Parameter(torch.zeros_like(self.worst))

    @property
    def constant(self) -> Tensor:
        if self.raw_constant is None:
            return self.worst
        return torch.where(self.fixed, self.worst, self.raw_constant)

    def forward(self, x: Tensor) -> Tensor:
        constant = self.constant.unsqueeze(-1)
        return constant.expand(torch.broadcast_shapes(constant.shape, x.shape[:-1]))


def worst_observed_mean(model: SingleTaskGP, sides: WorstSides) -> WorstObservedMean | None:
    """The prior mean that fixes each output with a side at its worst training
    target (None when no output has one: keep BoTorch's fitted constant).

    `model.train_targets` are the transformed outcomes, `n` or `m x n`.
    """
    if not any(side is not None for side in sides):
        return None
    targets = model.train_targets
    batch = targets.shape[:-1]  # () for one output, (m,) for m
    largest = torch.tensor([side is None or side > 0 for side in sides]).reshape(batch)
    worst = torch.where(largest, targets.max(dim=-1).values, targets.min(dim=-1).values)
    fixed = torch.tensor([side is not None for side in sides]).reshape(batch)
    return WorstObservedMean(worst, fixed)
