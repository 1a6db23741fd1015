"""Early stopping of trials and global stopping of experiments.

Pass an early-stopping strategy as `SchedulerOptions(early_stopping_strategy=...)`
and a global one as `SchedulerOptions(global_stopping_strategy=...)`; the
scheduler asks both on every poll (see `scheduler.scheduler`).

What an early-stopping strategy sees: each poll, the scheduler fetches the
progress rows (`step` set) of the RUNNING trials from the metrics whose
`reports_progress` is True and attaches them to the experiment, so
`experiment.lookup_data()` holds every running trial's curve so far, next to
the curves of finished trials. With `CeleryRunner`, a worker's `report(step,
...)` calls are stored whole in the task's PROGRESS state, so a scheduler
that polls less often than the worker reports still gets every point.

What is kept:
- a trial stopped early keeps its partial curve (saved with the trial); the
  model learns its last value projected to the final scale by the completed
  trials' curves (`scheduler.generation.partial`), not the raw partial value,
  which would make a good region stopped early look worse than it is;
- a completed trial keeps its whole curve plus its final value: the task
  leaves the curve under `bo-curve-<task id>` before Celery replaces the
  PROGRESS state with the result, so points reported after the last poll,
  or by a trial shorter than one poll interval, are not lost.

Stopping a trial: `CeleryRunner.stop` asks the worker to stop at its next
`report` (cooperative; the task is stored REVOKED with its points) and
revokes it, terminating the worker process only when the trial never
reported progress. The scheduler marks the trial EARLY_STOPPED at once.
"""

from scheduler.stopping.base import EarlyStoppingStrategy, GlobalStoppingStrategy
from scheduler.stopping.improvement import ImprovementGlobalStoppingStrategy
from scheduler.stopping.percentile import PercentileEarlyStoppingStrategy
from scheduler.stopping.progress import check_progress_metrics, fetch_progress
from scheduler.stopping.threshold import ThresholdEarlyStoppingStrategy

__all__ = [
    "EarlyStoppingStrategy",
    "GlobalStoppingStrategy",
    "ImprovementGlobalStoppingStrategy",
    "PercentileEarlyStoppingStrategy",
    "ThresholdEarlyStoppingStrategy",
    "check_progress_metrics",
    "fetch_progress",
]
