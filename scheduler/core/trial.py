"""Arms, trials and the trial lifecycle.

CANDIDATE -> STAGED -> RUNNING -> COMPLETED | FAILED | EARLY_STOPPED
any non-terminal -> ABANDONED (and FAILED, e.g. when lost or past its TTL)
CANDIDATE -> STALE (a reviewed-never candidate replaced or past its TTL)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from scheduler.core.clock import utcnow
from scheduler.core.errors import InvalidRunMetadataError, InvalidTrialTransitionError
from scheduler.core.parameters import TParameterization


class TrialStatus(Enum):
    CANDIDATE = "CANDIDATE"
    STAGED = "STAGED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ABANDONED = "ABANDONED"
    EARLY_STOPPED = "EARLY_STOPPED"
    #: A CANDIDATE nobody deployed: replaced by newer candidates or past its TTL.
    STALE = "STALE"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_running(self) -> bool:
        """Out on the fleet: counts against `max_pending_trials`."""
        return self in (TrialStatus.STAGED, TrialStatus.RUNNING)

    @property
    def is_completed(self) -> bool:
        return self is TrialStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self is TrialStatus.FAILED


_TERMINAL = frozenset(
    {
        TrialStatus.COMPLETED,
        TrialStatus.FAILED,
        TrialStatus.ABANDONED,
        TrialStatus.EARLY_STOPPED,
        TrialStatus.STALE,
    }
)

_ALLOWED: dict[TrialStatus, frozenset[TrialStatus]] = {
    TrialStatus.CANDIDATE: frozenset(
        {
            TrialStatus.STAGED,
            TrialStatus.RUNNING,
            TrialStatus.FAILED,
            TrialStatus.ABANDONED,
            TrialStatus.STALE,
        }
    ),
    TrialStatus.STAGED: frozenset((_TERMINAL - {TrialStatus.STALE}) | {TrialStatus.RUNNING}),
    TrialStatus.RUNNING: _TERMINAL - {TrialStatus.STALE},
}


@dataclass
class Arm:
    """One point of the search space, named `"<trial_index>_0"`."""

    parameters: TParameterization
    name: str = ""


@dataclass(eq=False)
class Trial:
    """One evaluation of one arm, with its status and when things happened."""

    index: int
    arm: Arm
    status: TrialStatus = TrialStatus.CANDIDATE
    run_metadata: dict[str, Any] = field(default_factory=dict)
    stop_metadata: dict[str, Any] = field(default_factory=dict)
    time_created: datetime = field(default_factory=utcnow)
    time_staged: datetime | None = None
    time_run_started: datetime | None = None
    time_completed: datetime | None = None
    failed_reason: str | None = None
    ttl_seconds: float | None = None
    generation_step: str | None = None
    experiment: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.arm.name:
            self.arm.name = f"{self.index}_0"

    # -- lifecycle ---------------------------------------------------------
    def _move(self, status: TrialStatus) -> None:
        if status not in _ALLOWED.get(self.status, frozenset()):
            raise InvalidTrialTransitionError(
                f"Trial {self.index} cannot go from {self.status.name} to {status.name}."
            )
        old, self.status = self.status, status
        if self.experiment is not None:
            self.experiment.status_changed(self, old)

    def update_run_metadata(self, metadata: object) -> None:
        """Merge a runner's metadata; it must be a JSON-safe dict to be stored."""
        if not isinstance(metadata, dict):
            raise InvalidRunMetadataError(
                f"Runner.run must return a dict of run metadata for trial "
                f"{self.index}, got {type(metadata).__name__}; return e.g. "
                "{'job_id': ...}."
            )
        try:
            json.dumps(metadata)
        except (TypeError, ValueError) as exc:
            raise InvalidRunMetadataError(
                f"Run metadata of trial {self.index} is not JSON-serializable "
                f"({exc}); keep it to str, numbers, bools, lists and dicts."
            ) from exc
        self.run_metadata.update(metadata)

    def mark_staged(self) -> None:
        self._move(TrialStatus.STAGED)
        self.time_staged = utcnow()

    def mark_running(self, started_at: datetime | None = None) -> None:
        """Move to RUNNING; `started_at` is when the runner says it started (else now)."""
        if self.status is TrialStatus.RUNNING:
            return
        self._move(TrialStatus.RUNNING)
        self.time_run_started = started_at or utcnow()

    def _finish(self, status: TrialStatus, reason: str | None) -> None:
        self._move(status)
        self.time_completed = utcnow()
        if reason is not None:
            self.failed_reason = reason

    def mark_completed(self) -> None:
        self._finish(TrialStatus.COMPLETED, None)

    def mark_failed(self, reason: str | None = None) -> None:
        self._finish(TrialStatus.FAILED, reason)

    def mark_abandoned(self, reason: str | None = None) -> None:
        self._finish(TrialStatus.ABANDONED, reason)

    def mark_early_stopped(self, reason: str | None = None) -> None:
        self._finish(TrialStatus.EARLY_STOPPED, reason)

    def mark_stale(self, reason: str | None = None) -> None:
        """A CANDIDATE that will never be deployed (replaced, or older than its TTL)."""
        self._finish(TrialStatus.STALE, reason)

    def mark_as(self, status: TrialStatus, reason: str | None = None) -> None:
        """Move to `status` through the right `mark_*` method."""
        if status is TrialStatus.STAGED:
            self.mark_staged()
        elif status is TrialStatus.RUNNING:
            self.mark_running()
        elif status is TrialStatus.COMPLETED:
            self.mark_completed()
        elif status.is_terminal:
            self._finish(status, reason)
        else:
            raise InvalidTrialTransitionError(f"Trial {self.index} cannot be marked {status.name}.")

    # -- views -------------------------------------------------------------
    @property
    def reported_start_time(self) -> datetime | None:
        """`run_metadata["start_time"]` (ISO string or epoch seconds) as a UTC datetime.

        Runners that queue jobs know when a job really started; the loop uses
        it for STAGED -> RUNNING so TTLs and durations count from the start,
        not from the poll that noticed it. Anything unparsable is ignored.
        """
        value = self.run_metadata.get("start_time")
        try:
            if isinstance(value, bool):
                return None
            if isinstance(value, int | float):
                return datetime.fromtimestamp(float(value), tz=UTC)
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            return None
        return None

    def is_candidate_older_than(self, seconds: float) -> bool:
        """True for a CANDIDATE created more than `seconds` ago (never deployed)."""
        if self.status is not TrialStatus.CANDIDATE:
            return False
        return (utcnow() - self.time_created).total_seconds() > seconds

    @property
    def is_stale(self) -> bool:
        """True when running longer than its TTL."""
        if self.ttl_seconds is None or self.status.is_terminal:
            return False
        started = self.time_run_started or self.time_staged
        if started is None:
            return False
        return (utcnow() - started).total_seconds() > self.ttl_seconds

    @property
    def objective_mean(self) -> float | None:
        """Mean of the experiment's (first) objective metric, if observed."""
        if self.experiment is None:
            return None
        result: float | None = self.experiment.objective_mean_of(self.index)
        return result
