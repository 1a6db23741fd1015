"""Stop launching trials once the best objective has stopped improving.

Take the trials that finished with data (COMPLETED or EARLY_STOPPED) in the
order they finished, `t_1 .. t_n`. Let `b_k` be the best objective among the
*completed, feasible* trials of `t_1 .. t_k` (an early-stopped trial's value
is partial, never a result, so it cannot be a best; it still counts as a
trial that brought no improvement). With window `w`, once
`n >= max(min_trials, w + 1)`, the relative improvement over the last `w`
trials is

    minimize:  (b_{n-w} - b_n) / |b_{n-w}|
    maximize:  (b_n - b_{n-w}) / |b_{n-w}|

and the optimization stops when it is below `improvement_bar` (0.1: less
than 10 % better than `w` trials ago). A best of exactly 0 counts any
improvement from it as infinite. Single objective only.
"""

from __future__ import annotations

import logging
import math

from scheduler.core.clock import utcnow
from scheduler.core.experiment import Experiment
from scheduler.core.trial import Trial, TrialStatus
from scheduler.stopping.base import GlobalStoppingStrategy, require_count, require_number

logger = logging.getLogger(__name__)

_FINISHED = (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED)


class ImprovementGlobalStoppingStrategy(GlobalStoppingStrategy):
    """Stop when the best improved by less than `improvement_bar` over `window_size` trials.

    Args:
        min_trials: finished trials before the rule is applied at all.
        window_size: how many of the latest finished trials must bring an improvement.
        improvement_bar: relative improvement (0.1 = 10 %) below which to stop.
    """

    def __init__(self, min_trials: int, window_size: int = 5, improvement_bar: float = 0.1):
        who = type(self).__name__
        self.min_trials = require_count(who, "min_trials", min_trials)
        self.window_size = require_count(who, "window_size", window_size)
        self.improvement_bar = require_number(who, "improvement_bar", improvement_bar, 0.0)

    def should_stop_optimization(self, experiment: Experiment) -> tuple[bool, str]:
        config = experiment.optimization_config
        if config is None or len(config.objectives) != 1:
            return False, "ImprovementGlobalStoppingStrategy needs exactly one objective"
        objective = config.objectives[0]
        finished = sorted(
            experiment.trials_by_status(*_FINISHED),
            key=lambda t: (t.time_completed or utcnow(), t.index),
        )
        needed = max(self.min_trials, self.window_size + 1)
        if len(finished) < needed:
            return False, f"{len(finished)} of {needed} finished trials needed to judge"
        window = self.window_size
        before = _best(experiment, finished[:-window], objective.minimize)
        now = _best(experiment, finished, objective.minimize)
        if now is None:
            return False, "no completed feasible trial yet"
        if before is None:
            return False, f"the first feasible trial is within the last {window} trials"
        gain = (before - now) if objective.minimize else (now - before)
        relative = _relative(gain, before)
        name = objective.metric.name
        message = (
            f"best {name} went from {before:.6g} to {now:.6g} over the last {window} "
            f"finished trials: {relative:.2%} improvement"
        )
        if relative < self.improvement_bar:
            return True, f"{message}, below improvement_bar={self.improvement_bar:.2%}"
        return False, message

    def __repr__(self) -> str:
        return (
            f"ImprovementGlobalStoppingStrategy(min_trials={self.min_trials}, "
            f"window_size={self.window_size}, improvement_bar={self.improvement_bar:g})"
        )


def _relative(gain: float, before: float) -> float:
    """`gain / |before|`; from a best of exactly 0 any gain is infinite."""
    if before != 0.0:
        return gain / abs(before)
    return math.inf if gain > 0 else 0.0


def _best(experiment: Experiment, trials: list[Trial], minimize: bool) -> float | None:
    """Best final objective among the completed trials that meet every outcome constraint."""
    config = experiment.optimization_config
    assert config is not None
    name = config.objectives[0].metric.name
    completed = [t.index for t in trials if t.status is TrialStatus.COMPLETED]
    df = experiment.lookup_data(completed).final().df
    values: dict[int, dict[str, float]] = {}
    for index, metric, mean in zip(df["trial_index"], df["metric_name"], df["mean"], strict=True):
        values.setdefault(int(index), {})[str(metric)] = float(mean)
    feasible = [
        v[name]
        for v in values.values()
        if math.isfinite(v.get(name, math.nan))
        and all(
            c.metric.name in v and c.is_satisfied(v[c.metric.name])
            for c in config.outcome_constraints
        )
    ]
    if not feasible:
        return None
    return min(feasible) if minimize else max(feasible)
