"""What the scheduler needs to give an early-stopping strategy curves to look at.

- `fetch_progress`: the progress rows (finite `step`) of running trials, from
  the metrics that report progress; the scheduler attaches them each poll.
- `check_progress_metrics`: at scheduler construction, that the metrics a
  strategy reads exist and report progress; otherwise the strategy would
  silently never stop anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from scheduler.core.data import STEP_COLUMN, Data
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.experiment import Experiment
from scheduler.core.result import Ok
from scheduler.core.trial import Trial

logger = logging.getLogger(__name__)


def fetch_progress(experiment: Experiment, trials: Sequence[Trial]) -> Data:
    """Progress rows of `trials` for every metric whose `reports_progress` is True.

    A failed fetch is skipped (a trial that has not reported yet is normal).
    """
    frames: list[Data] = []
    metrics = [m for m in experiment.metrics.values() if m.reports_progress]
    for trial in trials:
        for metric in metrics:
            try:
                result = metric.fetch_trial_data(trial)
            except Exception:  # a user's metric may raise; early stopping must not
                logger.debug("progress of trial %d: %s raised", trial.index, metric, exc_info=True)
                continue
            if not isinstance(result, Ok) or not isinstance(result.value, Data):
                continue
            df = result.value.df
            if STEP_COLUMN not in df:
                continue
            steps = df[STEP_COLUMN].to_numpy(dtype=float)
            keep = (df["metric_name"] == metric.name).to_numpy() & np.isfinite(steps)
            if keep.any():
                frames.append(Data._trusted(df[keep]))
    return Data.from_multiple(frames)


def check_progress_metrics(strategy: Any, experiment: Experiment) -> None:
    """Raise `InvalidSchedulerOptionsError` if `strategy` reads a metric without curves.

    Only strategies that say which metrics they read (`progress_metric_names`,
    as every `EarlyStoppingStrategy` does) are checked: a custom strategy may
    decide on other signals.
    """
    names_of = getattr(strategy, "progress_metric_names", None)
    if strategy is None or not callable(names_of):
        return
    who = type(strategy).__name__
    for name in names_of(experiment):
        metric = experiment.metrics.get(name)
        if metric is None:
            raise InvalidSchedulerOptionsError(
                f"early_stopping_strategy {who} reads metric {name!r}, which experiment "
                f"{experiment.name!r} does not have (it has {sorted(experiment.metrics)}); "
                "pass metric_names=[...] naming one of them."
            )
        if not metric.reports_progress:
            raise InvalidSchedulerOptionsError(
                f"early_stopping_strategy {who} reads metric {name!r}, but "
                f"{type(metric).__name__}.reports_progress is False, so the scheduler never "
                "sees its learning curve while trials run and nothing would ever be stopped. "
                "Use a metric that returns rows with a `step` while the trial runs and says "
                "reports_progress=True (e.g. CeleryMetric with an objective that calls "
                "report(step, ...)), or remove early_stopping_strategy."
            )
