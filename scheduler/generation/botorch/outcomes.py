"""What the optimization config asks of each modeled metric, in maximization form.

Model outputs are ordered objectives first, then constrained metrics. Objective
`j` is maximized as `s_j * y_j` with `s_j = -1` for a minimized metric. An
outcome constraint `y <= b` (`y >= b`) holds when

    c(y) = s (y - b) / scale <= 0,    s = +1 (LEQ) or -1 (GEQ),

where `scale` is the observed spread of the metric, so that the sigmoid
relaxation BoTorch applies to `c` has the same sharpness for every metric.

Torch is imported only by the functions on tensors, so reports can check
feasibility and objectives without loading it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scheduler.core.optimization import ComparisonOp, OptimizationConfig

if TYPE_CHECKING:
    from torch import Tensor

#: Fraction of the Pareto front's range the inferred reference point lies below its nadir.
REF_POINT_MARGIN = 0.1


@dataclass(frozen=True)
class ConstraintSpec:
    output: int
    metric_name: str
    sign: float
    bound: float
    scale: float = 1.0

    def violation(self, value: float) -> float:
        """`c(y)`: <= 0 when the constraint holds."""
        return self.sign * (value - self.bound) / self.scale

    def callable(self) -> Callable[[Tensor], Tensor]:
        output, sign, bound, scale = self.output, self.sign, self.bound, self.scale
        return lambda Y: sign * (Y[..., output] - bound) / scale


@dataclass
class OutcomeSpec:
    """Objectives and constraints over the model outputs `metric_names`."""

    metric_names: list[str]
    objective_signs: list[float]
    constraints: list[ConstraintSpec] = field(default_factory=list)
    #: Signed objective thresholds (maximization form) by objective position.
    thresholds: dict[int, float] = field(default_factory=dict)

    @staticmethod
    def from_config(config: OptimizationConfig) -> OutcomeSpec:
        objectives = config.objectives
        names = [o.metric.name for o in objectives]
        signs = [-1.0 if o.minimize else 1.0 for o in objectives]
        constraints = []
        for constraint in config.outcome_constraints:
            name = constraint.metric.name
            if name not in names:
                names.append(name)
            sign = 1.0 if constraint.op is ComparisonOp.LEQ else -1.0
            constraints.append(ConstraintSpec(names.index(name), name, sign, constraint.bound))
        thresholds = {}
        for threshold in config.objective_thresholds:
            j = names.index(threshold.metric.name)
            thresholds[j] = signs[j] * threshold.bound
        return OutcomeSpec(names, signs, constraints, thresholds)

    @property
    def num_objectives(self) -> int:
        return len(self.objective_signs)

    def with_scales(self, values: Mapping[str, list[float]]) -> OutcomeSpec:
        """Scale each constraint by the standard deviation of its observed values."""
        scaled = []
        for c in self.constraints:
            observed = [v for v in values.get(c.metric_name, []) if math.isfinite(v)]
            spread = statistics.stdev(observed) if len(observed) > 1 else 0.0
            scale = spread if spread > 1e-12 else max(abs(c.bound), 1.0)
            scaled.append(ConstraintSpec(c.output, c.metric_name, c.sign, c.bound, scale))
        return OutcomeSpec(self.metric_names, self.objective_signs, scaled, self.thresholds)

    def constraint_callables(self) -> list[Callable[[Tensor], Tensor]]:
        return [c.callable() for c in self.constraints]

    def is_feasible(self, means: Mapping[str, float]) -> bool:
        """True when every constraint holds; a missing or non-finite value fails."""
        for c in self.constraints:
            value = means.get(c.metric_name)
            if value is None or not math.isfinite(value) or c.violation(value) > 0:
                return False
        return True

    def signed_objectives(self, means: Mapping[str, float]) -> list[float] | None:
        """Objective values in maximization form, or None when one is missing."""
        result = []
        for name, sign in zip(self.metric_names, self.objective_signs, strict=False):
            value = means.get(name)
            if value is None or not math.isfinite(value):
                return None
            result.append(sign * value)
        return result


def pareto_mask(Y: Tensor) -> Tensor:
    """Which rows of the `n x m` (maximized) objective matrix nobody dominates."""
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    if Y.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool)
    return is_non_dominated(Y, deduplicate=False)


def infer_reference_point(Y: Tensor, thresholds: Mapping[int, float]) -> Tensor:
    """A reference point just below the observed Pareto front (maximization form).

    With `P` the non-dominated rows of `Y`, objective `j` without a threshold
    gets `r_j = min_P y_j - REF_POINT_MARGIN * (max_P y_j - min_P y_j)`, a bit
    worse than the front's nadir so every front point adds hypervolume; when
    the front is a single point the margin is taken relative to `|y_j|`.
    Given thresholds are used as they are.
    """
    import torch

    front = Y[pareto_mask(Y)]
    m = Y.shape[-1]
    ref = torch.zeros(m, dtype=Y.dtype)
    for j in range(m):
        if j in thresholds:
            ref[j] = thresholds[j]
            continue
        low, high = front[:, j].min(), front[:, j].max()
        spread = float(high - low)
        if spread <= 1e-12:
            spread = max(abs(float(low)), 1.0)
        ref[j] = low - REF_POINT_MARGIN * spread
    return ref
