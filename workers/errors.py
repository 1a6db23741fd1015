"""Exceptions a worker raises, each with a message that says what to change.

Every exception here takes its message as its only positional argument (or,
for :class:`StopTrial`, a reason and the progress points) so that Celery's
JSON result backend can store it as ``exc_type``/``exc_message`` and rebuild
it on the scheduler side; the last line of the stored traceback,
``workers.errors.<Name>: <message>``, becomes the trial's failure reason.
"""

from __future__ import annotations

from typing import Any


class WorkerError(Exception):
    """Base class of every error raised by the ``workers`` package."""


class WorkerConfigError(WorkerError):
    """The environment holds a setting the worker cannot use."""


class UnknownObjectiveError(WorkerError, LookupError):
    """A trial named an objective no loaded module registered."""


class ObjectiveRegistrationError(WorkerError):
    """Two different functions were registered under one objective name."""


class ObjectiveModuleError(WorkerError):
    """A module listed in ``BO_OBJECTIVE_MODULES`` (or an entry point) failed to load."""


class InvalidTrialRequest(WorkerError):
    """The task's request is not ``{"trial_index", "objective", "parameters", "options"}``."""


class ObjectiveParameterError(InvalidTrialRequest):
    """An objective was given a missing, unexpected or non-numeric parameter."""


class InvalidObjectiveResult(WorkerError):
    """An objective returned something other than finite numbers per metric."""


class ObjectiveFailed(WorkerError):
    """The objective function raised; the original exception is the ``__cause__``."""


class TrialTimeLimitExceeded(WorkerError):
    """The trial ran past ``BO_TRIAL_SOFT_TIME_LIMIT``."""


class StopTrial(WorkerError):
    """The scheduler asked this trial to stop (early stopping).

    Raised by the ``report`` callback inside the objective; the task stores it
    as the trial's REVOKED result. ``args`` are ``(reason, progress)`` so the
    progress points survive the JSON round trip through the result backend.
    """

    def __init__(self, reason: str = "stopped early", progress: list[Any] | None = None) -> None:
        super().__init__(reason, list(progress or []))

    @property
    def reason(self) -> str:
        """Why the trial stopped."""
        return str(self.args[0])

    @property
    def progress(self) -> list[Any]:
        """Every progress point the trial had reported, oldest first."""
        points = self.args[1] if len(self.args) > 1 else []
        return list(points) if isinstance(points, (list, tuple)) else []

    def __str__(self) -> str:
        return self.reason
