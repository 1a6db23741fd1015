"""Fetch a trial's data from its metrics and check it is usable.

Returns a reason string instead of raising, so one bad trial fails that trial
and never the whole loop.
"""

from __future__ import annotations

import logging
import math

from scheduler.core.data import Data
from scheduler.core.errors import MissingMetricError
from scheduler.core.experiment import Experiment
from scheduler.core.result import Err
from scheduler.core.trial import Trial

logger = logging.getLogger(__name__)


def fetch_trial_data(experiment: Experiment, trial: Trial) -> tuple[Data, str | None]:
    """Data of every metric for `trial`, and why it is unusable (None when fine).

    Metrics of the optimization config are required; tracking metrics are
    best effort (a failure is logged, not fatal).
    """
    required = (
        set(experiment.optimization_config.metrics) if experiment.optimization_config else set()
    )
    frames: list[Data] = []
    for name, metric in experiment.metrics.items():
        try:
            result = metric.fetch_trial_data(trial)
        except Exception as exc:  # a user's metric may raise; record why
            result = Err(exc)  # type: ignore[arg-type]
        if isinstance(result, Err) or not isinstance(result.value, Data):
            reason = (
                f"metric {name!r} could not be fetched for trial {trial.index}: "
                f"{result.value if isinstance(result, Err) else 'fetch returned no Data'}"
            )
            if name in required:
                return Data.from_multiple(frames), reason
            logger.warning("Tracking %s", reason)
            continue
        data = result.value.filter(metric_names=[name])
        problem = _check_metric_rows(data, name, trial.index)
        if problem is not None:
            if name in required:
                return Data.from_multiple(frames), problem
            logger.warning("Tracking metric: %s", problem)
            continue
        frames.append(data)
    return Data.from_multiple(frames), None


def _check_metric_rows(data: Data, metric: str, trial_index: int) -> str | None:
    if data.df.empty:
        return str(
            MissingMetricError(
                f"metric {metric!r} returned no row for trial {trial_index}; its "
                f"fetch_trial_data must return rows with metric_name={metric!r}"
            )
        )
    last = float(data.final().df["mean"].iloc[-1])
    if not math.isfinite(last):
        return f"metric {metric!r} of trial {trial_index} is not a finite number ({last})"
    return None
