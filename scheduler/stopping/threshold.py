"""Stop a running trial whose curve is still worse than a fixed value past a step.

For a running trial at progression `p >= min_progression` with latest value
`v`: stop when `v > metric_threshold` (minimize) or `v < metric_threshold`
(maximize). Unlike the percentile rule it needs no other trials, so it
works from the very first trial; it needs to know what "hopeless" means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from scheduler.core.experiment import Experiment
from scheduler.stopping.base import EarlyStoppingStrategy, require_number
from scheduler.stopping.curves import curves_of


class ThresholdEarlyStoppingStrategy(EarlyStoppingStrategy):
    """Stop trials still worse than `metric_threshold` once past `min_progression`.

    Args:
        metric_threshold: the value a trial must beat by `min_progression`.
        min_progression: the step from which trials are judged.
        metric_names: `[name]` of the curve to read; None: the objective.
    """

    def __init__(
        self,
        metric_threshold: float,
        min_progression: float,
        metric_names: Iterable[str] | None = None,
    ) -> None:
        super().__init__(metric_names)
        who = type(self).__name__
        self.metric_threshold = require_number(who, "metric_threshold", metric_threshold, -math.inf)
        self.min_progression = require_number(who, "min_progression", min_progression, 0.0)

    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        metric, minimize = self.metric_and_direction(experiment)
        curves = curves_of(experiment.lookup_data(), metric)
        bound = self.metric_threshold
        decisions: dict[int, str | None] = {}
        for index in sorted(trial_indices):
            curve = curves.get(index)
            if curve is None or curve.progression < self.min_progression:
                continue
            value = curve.latest
            if (value > bound) if minimize else (value < bound):
                relation = "above" if minimize else "below"
                decisions[index] = (
                    f"{metric} {value:.4g} at step {curve.progression:g} is still {relation} "
                    f"the threshold {bound:.4g}"
                )
        return decisions

    def __repr__(self) -> str:
        return (
            f"ThresholdEarlyStoppingStrategy(metric_threshold={self.metric_threshold:g}, "
            f"min_progression={self.min_progression:g}, metric_names={self.metric_names!r})"
        )
