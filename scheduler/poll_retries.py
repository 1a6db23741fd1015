"""Polling that survives a runner's exception: retry, then poll trial by trial.

A bulk `Runner.poll_trial_status` that raises (a network blip, one job the
runner cannot parse) must not end the run with trials left RUNNING. The bulk
poll is retried `POLL_RETRIES` times (as Ax retries `poll_trial_status`);
then each trial is polled on its own, so one bad trial is isolated. A trial
whose own poll still raises after the retries is to be ABANDONED, with the
error as its reason; the others go on. A malformed answer (not a
`{TrialStatus: set}`) is a bug in the runner and is left to `validated_poll`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from scheduler.core.runner import Runner
from scheduler.core.trial import Trial, TrialStatus

logger = logging.getLogger("scheduler")

#: Attempts of the bulk poll, and of each single-trial poll after it.
POLL_RETRIES = 3

Statuses = dict[TrialStatus, set[int]]


def poll_with_retries(runner: Runner, trials: Sequence[Trial]) -> tuple[object, dict[int, str]]:
    """The runner's answer for `trials`, and {trial index: why} of trials to abandon."""
    error: Exception | None = None
    for _ in range(POLL_RETRIES):
        try:
            return runner.poll_trial_status(trials), {}
        except Exception as exc:
            error = exc
            logger.warning("poll_trial_status raised %r; retrying", exc)
    logger.warning("bulk poll failed %d times (%r); polling each trial", POLL_RETRIES, error)
    merged: Statuses = {}
    abandon: dict[int, str] = {}
    for trial in trials:
        answer, reason = _poll_one(runner, trial)
        if reason is not None:
            abandon[trial.index] = reason
            continue
        if not isinstance(answer, dict):
            return answer, abandon  # malformed: validated_poll names the problem
        for status, indices in answer.items():
            merged.setdefault(status, set()).update(indices)
    return merged, abandon


def _poll_one(runner: Runner, trial: Trial) -> tuple[object, str | None]:
    error: Exception | None = None
    for _ in range(POLL_RETRIES):
        try:
            return runner.poll_trial_status([trial]), None
        except Exception as exc:
            error = exc
    return None, f"polling failed {POLL_RETRIES} times: {type(error).__name__}: {error}"
