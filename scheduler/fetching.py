"""What the loop reads from runners and metrics, checked: polls and trial data.

Returns a reason string instead of raising, so one bad trial fails that trial
and never the whole loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from scheduler.core.data import Data
from scheduler.core.errors import (
    InvalidRunMetadataError,
    InvalidSchedulerOptionsError,
    MissingMetricError,
)
from scheduler.core.experiment import Experiment
from scheduler.core.result import Err, MetricFetchE
from scheduler.core.trial import Trial, TrialStatus

logger = logging.getLogger(__name__)

#: Polls a recoverable fetch error may last before the trial is failed anyway
#: (a metric that always says "not yet" must not hold a trial forever).
MAX_RECOVERABLE_FETCHES = 20


def fetch_trial_data(experiment: Experiment, trial: Trial) -> tuple[Data, str | None, bool]:
    """Data of every metric for `trial`, why it is unusable (None when fine), and
    whether that problem is recoverable (fetch again on the next poll).

    Metrics of the optimization config are required; tracking metrics are
    best effort (a failure is logged, not fatal). A fetch error the metric
    declares recoverable (`Metric.is_recoverable_fetch_e`) leaves the trial as
    it is for the next poll; any other error of a required metric fails it.
    """
    required = (
        set(experiment.optimization_config.metrics) if experiment.optimization_config else set()
    )
    frames: list[Data] = []
    for name, metric in experiment.metrics.items():
        try:
            result = metric.fetch_trial_data(trial)
        except Exception as exc:  # a user's metric may raise; record why
            result = Err(MetricFetchE(f"fetch_trial_data raised {type(exc).__name__}", exc))
        if isinstance(result, Err) or not isinstance(result.value, Data):
            error = result.value if isinstance(result, Err) else None
            reason = (
                f"metric {name!r} could not be fetched for trial {trial.index}: "
                f"{error if error is not None else 'fetch returned no Data'}"
            )
            recoverable = isinstance(error, MetricFetchE) and metric.is_recoverable_fetch_e(error)
            if name in required:
                return Data.from_multiple(frames), reason, recoverable
            logger.warning("Tracking %s", reason)
            continue
        data = result.value
        if (data.df["metric_name"].to_numpy() != name).any():  # filter only when needed
            data = data.filter(metric_names=[name])
        problem = _check_metric_rows(data, name, trial.index)
        if problem is not None:
            if name in required:
                return Data.from_multiple(frames), problem, False
            logger.warning("Tracking metric: %s", problem)
            continue
        frames.append(data)
    return Data.from_multiple(frames), None, False


def check_fetch_logic(experiment: Experiment) -> None:
    """`validate_metrics=True`: every metric's class must override `fetch_trial_data`
    (Ax's `validate_metrics`: a metric without fetch logic can never return data)."""
    for name, metric in experiment.metrics.items():
        if not type(metric).has_fetch_logic():
            raise InvalidSchedulerOptionsError(
                f"metric {name!r} ({type(metric).__name__}) has no fetch logic: subclass "
                "Metric and override fetch_trial_data, or pass validate_metrics=False."
            )


def _check_metric_rows(data: Data, metric: str, trial_index: int) -> str | None:
    if data.df.empty:
        return str(
            MissingMetricError(
                f"metric {metric!r} returned no row for trial {trial_index}; its "
                f"fetch_trial_data must return rows with metric_name={metric!r}"
            )
        )
    last = float(data.final().df["mean"].to_numpy()[-1])
    if not math.isfinite(last):
        return f"metric {metric!r} of trial {trial_index} is not a finite number ({last})"
    return None


def validated_poll(statuses: object, experiment: Experiment) -> Iterator[tuple[TrialStatus, Trial]]:
    """Yield (status, trial) from a runner's poll, rejecting malformed answers."""
    if not isinstance(statuses, dict):
        raise InvalidRunMetadataError(
            "Runner.poll_trial_status must return {TrialStatus: set(trial_index)}, "
            f"got {type(statuses).__name__}."
        )
    order = [
        TrialStatus.RUNNING,
        TrialStatus.COMPLETED,
        TrialStatus.EARLY_STOPPED,
        TrialStatus.FAILED,
        TrialStatus.ABANDONED,
        TrialStatus.STAGED,
        TrialStatus.CANDIDATE,
    ]
    for status in sorted(statuses, key=lambda s: order.index(s) if s in order else 99):
        if not isinstance(status, TrialStatus):
            raise InvalidRunMetadataError(
                f"Runner.poll_trial_status returned key {status!r}; keys must be "
                "TrialStatus members."
            )
        try:
            indices = [int(index) for index in statuses[status]]
        except (TypeError, ValueError) as exc:
            raise InvalidRunMetadataError(
                f"Runner.poll_trial_status returned {statuses[status]!r} for "
                f"{status.name}; each value must be a set of trial indices (ints)."
            ) from exc
        for index in indices:
            trial = experiment.trials.get(index)
            if trial is None:
                logger.warning("runner reported unknown trial index %r", index)
                continue
            yield status, trial
