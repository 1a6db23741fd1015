"""The two stopping contracts the scheduler asks each poll, and shared checks.

- `EarlyStoppingStrategy.should_stop_trials_early(trial_indices, experiment)`
  returns `{trial_index: reason}` for the running trials to stop now.
- `GlobalStoppingStrategy.should_stop_optimization(experiment)` returns
  `(stop, message)`: whether to launch no more trials, and why.

The scheduler duck-types both, so a user's own class works without
subclassing; subclasses of `EarlyStoppingStrategy` also tell the scheduler
which metrics they read, so it can check at construction that those metrics
report progress (a strategy that never sees a curve would never stop anything).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from numbers import Real

from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.experiment import Experiment


class EarlyStoppingStrategy(ABC):
    """Decides which running trials to stop, from their learning curves.

    Args:
        metric_names: the metric whose curve decides, as a one-element list;
            None: the experiment's (single) objective.
    """

    def __init__(self, metric_names: Iterable[str] | None = None) -> None:
        self.metric_names = _metric_names(type(self).__name__, metric_names)

    @abstractmethod
    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        """`{index: reason}` for each trial of `trial_indices` to stop now."""

    def progress_metric_names(self, experiment: Experiment) -> list[str]:
        """The metrics whose curves this strategy reads (checked by the scheduler)."""
        if self.metric_names is not None:
            return list(self.metric_names)
        config = experiment.optimization_config
        if config is None:
            raise InvalidSchedulerOptionsError(
                f"{type(self).__name__} needs an objective to read, but experiment "
                f"{experiment.name!r} has no optimization_config; pass metric_names=[...]."
            )
        objectives = config.objectives
        if len(objectives) != 1:
            names = [o.metric.name for o in objectives]
            raise InvalidSchedulerOptionsError(
                f"{type(self).__name__} reads one metric, and the experiment has "
                f"{len(names)} objectives {names}; pass metric_names=['<one of them>']."
            )
        return [objectives[0].metric.name]

    def metric_and_direction(self, experiment: Experiment) -> tuple[str, bool]:
        """(metric name, minimize?) of the curve this strategy reads."""
        (name,) = self.progress_metric_names(experiment)
        return name, lower_is_better(experiment, name, type(self).__name__)


class GlobalStoppingStrategy(ABC):
    """Decides whether the whole optimization has stopped paying off."""

    @abstractmethod
    def should_stop_optimization(self, experiment: Experiment) -> tuple[bool, str]:
        """(stop launching trials?, why)."""


def lower_is_better(experiment: Experiment, metric_name: str, who: str) -> bool:
    """Direction of `metric_name`: the objective's, else the metric's `lower_is_better`."""
    config = experiment.optimization_config
    if config is not None:
        for objective in config.objectives:
            if objective.metric.name == metric_name:
                return objective.minimize
    metric = experiment.metrics.get(metric_name)
    if metric is None:
        raise InvalidSchedulerOptionsError(
            f"{who} reads metric {metric_name!r}, which experiment {experiment.name!r} "
            f"does not have (it has {sorted(experiment.metrics)}); fix metric_names."
        )
    if metric.lower_is_better is None:
        raise InvalidSchedulerOptionsError(
            f"{who} reads metric {metric_name!r}, which is not an objective and has "
            "lower_is_better=None, so 'worse' is undefined; set lower_is_better on the metric."
        )
    return bool(metric.lower_is_better)


# -- argument checks (every bad value names what to pass instead) -------------------
def _metric_names(who: str, names: Iterable[str] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        raise InvalidSchedulerOptionsError(
            f"{who}(metric_names={names!r}): pass a list, metric_names=[{names!r}]."
        )
    listed = list(names)
    if len(listed) != 1 or not all(isinstance(n, str) and n for n in listed):
        raise InvalidSchedulerOptionsError(
            f"{who}(metric_names={listed!r}): pass exactly one metric name, e.g. "
            "metric_names=['loss'], or None for the objective."
        )
    return listed


def require_number(
    who: str, name: str, value: object, low: float, high: float = math.inf, *, open_: bool = False
) -> float:
    """`value` as a float in [low, high] ((low, high) when `open_`), else a named error."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = low < number < high if open_ else low <= number <= high
    if not ok:
        bounds = f"({low:g}, {high:g})" if open_ else f"[{low:g}, {high:g}]"
        raise InvalidSchedulerOptionsError(
            f"{who}({name}={value!r}) is not valid; pass a finite number in {bounds}."
        )
    return float(value)  # type: ignore[arg-type]


def require_count(who: str, name: str, value: object, low: int = 1) -> int:
    """`value` as a whole number >= `low`, else a named error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidSchedulerOptionsError(
            f"{who}({name}={value!r}) is not valid; pass a whole number >= {low}."
        )
    return value
