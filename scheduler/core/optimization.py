"""What to optimize: objectives and outcome constraints over metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from scheduler.core.errors import InvalidOptimizationConfigError
from scheduler.core.metric import Metric


@dataclass
class Objective:
    """Minimize or maximize one metric."""

    metric: Metric
    minimize: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.metric, Metric):
            raise InvalidOptimizationConfigError(
                f"Objective needs a Metric instance, got {self.metric!r}; "
                "wrap the name, e.g. Objective(metric=Metric(name='loss'))."
            )

    @property
    def metric_names(self) -> list[str]:
        return [self.metric.name]


@dataclass
class MultiObjective:
    """Several objectives optimized jointly (a Pareto front)."""

    objectives: list[Objective]

    def __post_init__(self) -> None:
        if len(self.objectives) < 2:
            raise InvalidOptimizationConfigError(
                "MultiObjective needs at least 2 objectives; use Objective for one."
            )

    @property
    def metric_names(self) -> list[str]:
        return [o.metric.name for o in self.objectives]

    @property
    def metric(self) -> Metric:
        return self.objectives[0].metric

    @property
    def minimize(self) -> bool:
        return self.objectives[0].minimize


class ComparisonOp(Enum):
    LEQ = "<="
    GEQ = ">="


@dataclass
class OutcomeConstraint:
    """Require `metric <= bound` (LEQ) or `metric >= bound` (GEQ)."""

    metric: Metric
    op: ComparisonOp
    bound: float
    relative: bool = False

    def __post_init__(self) -> None:
        if self.relative:
            raise InvalidOptimizationConfigError(
                f"Outcome constraint on {self.metric.name!r} is relative; relative "
                "constraints need a status-quo arm, which bo-scheduler does not "
                "have. Give an absolute bound with relative=False."
            )

    def is_satisfied(self, value: float) -> bool:
        return value <= self.bound if self.op is ComparisonOp.LEQ else value >= self.bound


@dataclass
class ObjectiveThreshold:
    """A reference value for one objective of a multi-objective problem."""

    metric: Metric
    bound: float


@dataclass
class OptimizationConfig:
    """The objective(s) plus outcome constraints the scheduler optimizes."""

    objective: Objective | MultiObjective
    outcome_constraints: list[OutcomeConstraint] = field(default_factory=list)
    objective_thresholds: list[ObjectiveThreshold] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = self.objective.metric_names
        if len(set(names)) != len(names):
            raise InvalidOptimizationConfigError(
                f"Objective metrics must be distinct, got {names}."
            )
        for constraint in self.outcome_constraints:
            if constraint.metric.name in names:
                raise InvalidOptimizationConfigError(
                    f"Metric {constraint.metric.name!r} is both an objective and an "
                    "outcome constraint; constrain a different metric."
                )
        for threshold in self.objective_thresholds:
            if threshold.metric.name not in names:
                raise InvalidOptimizationConfigError(
                    f"Objective threshold on {threshold.metric.name!r}, which is not "
                    f"an objective ({names})."
                )

    @property
    def is_multi_objective(self) -> bool:
        return isinstance(self.objective, MultiObjective)

    @property
    def objectives(self) -> list[Objective]:
        if isinstance(self.objective, MultiObjective):
            return list(self.objective.objectives)
        return [self.objective]

    @property
    def metrics(self) -> dict[str, Metric]:
        found = {o.metric.name: o.metric for o in self.objectives}
        found.update({c.metric.name: c.metric for c in self.outcome_constraints})
        return found


MultiObjectiveOptimizationConfig = OptimizationConfig
