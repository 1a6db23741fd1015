"""Which observed trials the GP is fitted on when there are too many (subset of data).

An exact GP costs `O(n^3)` to fit and `O(n^2)` per posterior, and qLogNEI
evaluates the posterior thousands of times per proposal: at 1,000 observations
proposing 16 arms took 25 s. Beyond `max_points` trials the GP is fitted on a
subset of `max_points` of them instead ("subset of data", Rasmussen & Williams
2006, section 8.3; the local data of TuRBO, Eriksson et al. 2019), chosen to
keep what the acquisition function needs:

- the best trials (`BEST_SHARE` of the subset), ranked feasible first, then by
  the signed objective (several objectives: by Pareto layer, the front first):
  they define the incumbent that qLogNEI improves on and the detail of the
  basin being refined;
- the nearest neighbours of the incumbent in the unit cube (`LOCAL_SHARE`),
  so the posterior around the best point has its local data, as in a trust
  region;
- the rest by farthest-point (max-min distance) selection from the remaining
  trials, a space-filling design that keeps a global picture, so the model
  does not extrapolate from the basin into regions already known to be poor.

The choice is deterministic (no randomness: the same data give the same
subset). At or below `max_points` trials every trial is kept, so small
experiments behave exactly as without this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import Tensor

from scheduler.generation.botorch.gp import MetricObservations
from scheduler.generation.botorch.outcomes import OutcomeSpec, pareto_mask

#: Shares of the subset taken by the best trials and by the incumbent's neighbours;
#: the rest is space-filling. Chosen on 1,000 Sobol Hartmann6 trials + 2 rounds
#: of 16 (seeds 0-2, 256 points): half best, a quarter each of neighbours and
#: space-filling gave a mean proposed value of -3.13 and final gap 0.018,
#: against -3.02 / 0.100 with a quarter best and half space-filling, and
#: -2.61 / 0.104 (192 points) with half neighbours (exact GP: -3.15 / 0.066).
BEST_SHARE = 0.5
LOCAL_SHARE = 0.25


def select_trials(
    X: Tensor,
    trial_indices: list[int],
    means: Mapping[int, Mapping[str, float]],
    spec: OutcomeSpec,
    max_points: int,
) -> list[int]:
    """The sorted trial indices to fit on: all when `len(trial_indices) <= max_points`.

    `X` holds the trials' unit-cube inputs (`n x d`, row `i` is `trial_indices[i]`),
    `means` their observed values by metric name.
    """
    n = len(trial_indices)
    if n <= max_points:
        return sorted(trial_indices)
    order = _rank(trial_indices, means, spec)
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[order[: max(1, int(BEST_SHARE * max_points))]] = True
    distance = torch.cdist(X, X[order[:1]]).squeeze(-1)
    distance[chosen] = torch.inf
    local = min(int(LOCAL_SHARE * max_points), n - int(chosen.sum()))
    chosen[torch.topk(distance, local, largest=False).indices] = True
    _fill_space(X, chosen, max_points - int(chosen.sum()))
    return sorted(trial_indices[i] for i in torch.nonzero(chosen).flatten().tolist())


def restrict(
    observations: Mapping[str, MetricObservations], keep: list[int]
) -> dict[str, MetricObservations]:
    """Each metric's observations at the trials in `keep` only."""
    wanted = set(keep)
    result = {}
    for name, obs in observations.items():
        rows = [i for i, t in enumerate(obs.trial_indices) if t in wanted]
        index = torch.tensor(rows, dtype=torch.long)
        result[name] = dataclasses.replace(
            obs,
            X=obs.X[index],
            Y=obs.Y[index],
            Yvar=None if obs.Yvar is None else obs.Yvar[index],
            trial_indices=[obs.trial_indices[i] for i in rows],
        )
    return result


def _rank(
    trial_indices: list[int], means: Mapping[int, Mapping[str, float]], spec: OutcomeSpec
) -> Tensor:
    """Row positions from best to worst: feasible before infeasible, trials missing
    an objective last, then by objective (Pareto layers for several)."""
    m = spec.num_objectives
    rows = [spec.signed_objectives(means.get(t, {})) for t in trial_indices]
    Y = torch.tensor([r if r is not None else [-torch.inf] * m for r in rows], dtype=torch.double)
    Y = Y.reshape(len(rows), m)
    feasible = torch.tensor([spec.is_feasible(means.get(t, {})) for t in trial_indices])
    complete = torch.tensor([r is not None for r in rows])
    quality = Y[:, 0] if m == 1 else -_pareto_layers(Y, complete).double()
    # Lexicographic: sort by quality, then stably by the group (feasible, complete).
    order = torch.argsort(quality, descending=True, stable=True)
    group = (~feasible).long() + 2 * (~complete).long()
    return order[torch.argsort(group[order], stable=True)]


def _pareto_layers(Y: Tensor, complete: Tensor, max_layers: int = 64) -> Tensor:
    """The non-dominated-sorting layer of each row (0 = the front); rows beyond
    `max_layers` layers, or incomplete, share the last layer."""
    layer = torch.full((Y.shape[0],), max_layers, dtype=torch.long)
    remaining = complete.clone()
    for depth in range(max_layers):
        if not remaining.any():
            break
        positions = torch.nonzero(remaining).flatten()
        front = positions[pareto_mask(Y[positions])]
        layer[front] = depth
        remaining[front] = False
    return layer


def _fill_space(X: Tensor, chosen: Tensor, count: int) -> None:
    """Add `count` rows to `chosen` (in place), each the one farthest from those chosen."""
    if count <= 0:
        return
    distance = torch.cdist(X, X[chosen]).min(dim=-1).values
    distance[chosen] = -1.0
    for _ in range(count):
        i = int(torch.argmax(distance))
        chosen[i] = True
        distance = torch.minimum(distance, torch.cdist(X, X[i : i + 1]).squeeze(-1))
        distance[chosen] = -1.0
