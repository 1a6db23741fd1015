"""`TrialLog`: log lines a user waits for, one per finished trial.

At the default level a daemon's log says what happened to each trial as it
happens: ``trial 3 completed: loss=0.0395 (best: trial 3)``, or why it was
stopped early. Failures are logged by the loop itself with their reasons.
A listener of the loop (`scheduler.listeners`), so the loop stays quiet
when used as a library.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scheduler.core.trial import Trial, TrialStatus
from scheduler.listeners import SchedulerListener

if TYPE_CHECKING:
    from scheduler.scheduler import Scheduler

logger = logging.getLogger("scheduler.trials")


class TrialLog(SchedulerListener):
    """Logs each completed or early-stopped trial with its values and the best so far.

    The best so far is the scheduler's cached answer (`get_best_trial` on
    observed values), found once per state of the data, not once per trial.
    """

    def on_trial_status(self, scheduler: Scheduler, trial: Trial, previous: TrialStatus) -> None:
        if trial.status is TrialStatus.COMPLETED:
            best = scheduler.get_best_trial(use_model_predictions=False)
            leader = "none feasible" if best is None else f"trial {best[0]}"
            logger.info("trial %d completed: %s (best: %s)", trial.index, _values(trial), leader)
        elif trial.status is TrialStatus.EARLY_STOPPED:
            reason = trial.failed_reason or "stopped early"
            logger.info("trial %d stopped early (%s): %s", trial.index, reason, _values(trial))


def _values(trial: Trial) -> str:
    """`metric=value, ...` of the trial's final data (its last row per metric)."""
    experiment = trial.experiment
    if experiment is None:
        return "no data"
    df = experiment.lookup_trial_data(trial.index).final().df
    if df.empty:
        return "no data"
    last = dict(zip(df["metric_name"].tolist(), df["mean"].tolist(), strict=True))
    return ", ".join(f"{name}={value:.6g}" for name, value in last.items())
