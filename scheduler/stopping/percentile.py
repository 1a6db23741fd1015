"""Stop a running trial that is doing worse than most others did at the same step.

For a running trial at progression `p` (its furthest reported step) with
latest value `v`, take the values `V` at step `p` of every *other* trial
whose curve reaches `p` (running, completed or early-stopped; interpolated,
see `curves`). With percentile threshold `q`, the trial is stopped when

    minimize:  v > percentile(V, 100 - q)
    maximize:  v < percentile(V, q)

i.e. when it is in the worst `q` % at that step: `q = 50` stops trials worse
than the median, `q = 70` keeps only those in the best 30 %. No decision is
made before `p >= min_progression` or while fewer than `min_curves` other
curves reach `p`: early steps are noisy and a percentile of three values
means little. Past `max_progression` (if set) a trial is no longer judged:
the later the step, the fewer trials got there (the others were stopped), so
the bar rises towards "best of the survivors", while stopping saves less.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from scheduler.core.experiment import Experiment
from scheduler.stopping.base import EarlyStoppingStrategy, require_count, require_number
from scheduler.stopping.curves import curves_of, values_at


class PercentileEarlyStoppingStrategy(EarlyStoppingStrategy):
    """Stop trials in the worst `percentile_threshold` % at their current step.

    Args:
        metric_names: `[name]` of the curve to compare; None: the objective.
        percentile_threshold: in (0, 100); the worst this many percent are stopped.
        min_progression: no trial is stopped before reaching this step.
        min_curves: other trials' curves that must reach the step to decide.
        trial_indices_to_ignore: trials never stopped (e.g. a baseline).
        max_progression: trials past this step are no longer stopped (None: no limit).
    """

    def __init__(
        self,
        metric_names: Iterable[str] | None = None,
        percentile_threshold: float = 50.0,
        min_progression: float = 0.0,
        min_curves: int = 5,
        trial_indices_to_ignore: Iterable[int] | None = None,
        max_progression: float | None = None,
    ) -> None:
        super().__init__(metric_names)
        who = type(self).__name__
        self.percentile_threshold = require_number(
            who, "percentile_threshold", percentile_threshold, 0.0, 100.0, open_=True
        )
        self.min_progression = require_number(who, "min_progression", min_progression, 0.0)
        self.min_curves = require_count(who, "min_curves", min_curves)
        self.max_progression = (
            None
            if max_progression is None
            else require_number(who, "max_progression", max_progression, self.min_progression)
        )
        self.trial_indices_to_ignore = frozenset(
            require_count(who, "trial_indices_to_ignore", i, 0)
            for i in (trial_indices_to_ignore or ())
        )

    def should_stop_trials_early(
        self, trial_indices: set[int], experiment: Experiment
    ) -> dict[int, str | None]:
        metric, minimize = self.metric_and_direction(experiment)
        curves = curves_of(experiment.lookup_data(), metric)
        q = self.percentile_threshold
        decisions: dict[int, str | None] = {}
        for index in sorted(set(trial_indices) - self.trial_indices_to_ignore):
            curve = curves.get(index)
            if curve is None or not self._judged_at(curve.progression):
                continue
            step, value = curve.progression, curve.latest
            others = values_at(curves, step, exclude=index)
            if len(others) < self.min_curves:
                continue
            cutoff = float(np.percentile(others, 100.0 - q if minimize else q))
            if (value > cutoff) if minimize else (value < cutoff):
                decisions[index] = (
                    f"{metric} {value:.4g} at step {step:g} is in the worst {q:g}% of "
                    f"{len(others)} other trials at that step (cutoff {cutoff:.4g}, "
                    f"{'lower' if minimize else 'higher'} is better)"
                )
        return decisions

    def _judged_at(self, step: float) -> bool:
        return step >= self.min_progression and (
            self.max_progression is None or step <= self.max_progression
        )

    def __repr__(self) -> str:
        return (
            f"PercentileEarlyStoppingStrategy(metric_names={self.metric_names!r}, "
            f"percentile_threshold={self.percentile_threshold:g}, "
            f"min_progression={self.min_progression:g}, min_curves={self.min_curves}, "
            f"max_progression={self.max_progression!r})"
        )
