"""A rank-based (Gaussian copula) transform of an objective before the GP fit.

`z_i = Phi^{-1}((rank(y_i) - 1/2) / n)` (ties share their mean rank): the GP
sees normal scores instead of raw values (Salinas et al. 2020, "A
quantile-based approach for hyperparameter transfer learning"; HEBO warps
outputs with a power transform for the same reason, Cowen-Rivers et al.
2022). A function with a flat plateau and narrow deep wells (Hartmann6) has
heavy-tailed values; normal scores spread the good ones, so the fit is not
dominated by the wells' depth. The transform is monotone, so qLogNEI's
ranking of arms by improvement keeps its meaning in `z`.

Known noise variances are carried over by the delta method with the overall
slope `std(z) / std(y)`. Only for a single objective without outcome
constraints (constraint thresholds live on the raw scale).
"""

from __future__ import annotations

import dataclasses

import torch

from scheduler.generation.botorch.gp import MetricObservations


def normal_scores(Y: torch.Tensor) -> torch.Tensor:
    """Column-wise normal scores of `Y` (`n x m`), ties at their mean rank."""
    n = Y.shape[0]
    out = torch.empty_like(Y)
    normal = torch.distributions.Normal(0.0, 1.0)
    for j in range(Y.shape[-1]):
        y = Y[:, j]
        ranks = (y.unsqueeze(0) < y.unsqueeze(1)).sum(1).to(Y) + 1
        ties = (y.unsqueeze(0) == y.unsqueeze(1)).sum(1).to(Y)
        mean_rank = ranks + (ties - 1) / 2
        out[:, j] = normal.icdf((mean_rank - 0.5) / n)
    return out


def copula_transform(observations: MetricObservations) -> MetricObservations:
    """The observations with `Y` replaced by its normal scores (module docstring)."""
    if observations.n < 3:
        return observations
    Z = normal_scores(observations.Y)
    Yvar = observations.Yvar
    if Yvar is not None:
        slope = Z.std(dim=0) / observations.Y.std(dim=0).clamp_min(1e-12)
        Yvar = Yvar * slope**2
    return dataclasses.replace(observations, Y=Z, Yvar=Yvar)
