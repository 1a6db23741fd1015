"""`Runner`: how the scheduler deploys trials to, and polls, an external system."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from scheduler.core.trial import Trial, TrialStatus


class Runner:
    """Subclass and implement `run` and `poll_trial_status`.

    `run` returns run metadata (a JSON-safe dict, e.g. a job id) that the
    scheduler stores on the trial before anything else happens.
    """

    #: When True, trials are STAGED after `run` until a poll says RUNNING
    #: (a queue); when False they count as RUNNING at once.
    staging_required: bool = False

    def run(self, trial: Trial) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement run(trial) -> dict.")

    def run_multiple(self, trials: Iterable[Trial]) -> dict[int, dict[str, Any]]:
        """Deploy several trials; override when one call can send many."""
        return {trial.index: self.run(trial) for trial in trials}

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        raise NotImplementedError(
            f"{type(self).__name__} must implement poll_trial_status(trials)."
        )

    def poll_available_capacity(self) -> int:
        """Free slots on the fleet, or -1 when unknown (no limit from the runner)."""
        return -1

    def failure_reason(self, trial: Trial) -> str | None:
        """Why the last poll saw `trial` fail, if the system says."""
        return None

    def stop(self, trial: Trial, reason: str | None = None) -> dict[str, Any]:
        """Stop a running trial; returns stop metadata. Default: nothing to do."""
        return {}

    def serialize_init_args(self) -> dict[str, Any]:
        """JSON-safe constructor arguments, used to store and reload the runner."""
        return {}


@runtime_checkable
class FindsSentTrials(Protocol):
    """An optional runner capability: telling which CANDIDATE trials it already sent.

    A scheduler killed between a runner's send and the save of its run metadata
    leaves a CANDIDATE trial whose job is out. On resume, a runner with
    `find_sent` returns that job's run metadata (or None), and the trial is
    polled with the rest, so results that came in while no scheduler ran are
    collected at once. A runner without it has its CANDIDATE trials deployed
    again by the next run, so its `run` must then be idempotent.
    """

    def find_sent(self, trial: Trial) -> dict[str, Any] | None: ...
