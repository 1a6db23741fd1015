"""Progress reporting and cooperative stopping of a running trial.

A long objective that takes a ``report`` parameter calls
``report(step, **metrics)``; each call stores *every* point so far as the
task's ``PROGRESS`` state, ``{"progress": [{"step": s, metric: value}, ...]}``,
so a scheduler that polls rarely still sees the whole curve. When the
objective returns, its ``SUCCESS`` result replaces that state, so the task
first leaves the curve under ``bo-curve-<task id>`` (:meth:`ProgressReporter.save_curve`,
same lifetime as results): the points reported since the scheduler's last
poll are not lost.

Stopping is cooperative: the scheduler calls :func:`request_stop`, which sets
the key ``bo-stop-<task id>`` in the result backend; the next ``report`` call
sees it and raises :class:`~workers.errors.StopTrial`, and the task stores the
trial as REVOKED with the reason and the progress points. This avoids
``revoke(terminate=True)``, which signals a process that may by then be
running another trial.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Protocol

from workers.errors import InvalidObjectiveResult, StopTrial
from workers.protocol import PROGRESS_STATE, curve_key, normalize_metrics, stop_key

logger = logging.getLogger(__name__)

#: How long a stop request stays in the backend if no trial consumes it (s).
STOP_REQUEST_EXPIRES = 7 * 24 * 3600


class _KeyValueBackend(Protocol):
    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> Any: ...


class _ProgressTask(Protocol):
    """The part of a bound Celery task the reporter uses."""

    @property
    def backend(self) -> Any: ...

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None
    ) -> None: ...


def _key_value(backend: Any) -> _KeyValueBackend | None:
    """Key-value backends (Redis, cache) can hold stop requests; others cannot."""
    if callable(getattr(backend, "get", None)) and callable(getattr(backend, "set", None)):
        return backend
    return None


def request_stop(backend: Any, task_id: str) -> None:
    """Ask the trial run by ``task_id`` to stop at its next progress report."""
    store = _key_value(backend)
    if store is None:
        raise TypeError(
            f"result backend {type(backend).__name__} cannot hold stop requests; "
            "use a Redis (or cache) result backend"
        )
    store.set(stop_key(task_id), b"1")


def is_stop_requested(backend: Any, task_id: str | None) -> bool:
    """Whether :func:`request_stop` was called for ``task_id``."""
    store = _key_value(backend)
    if store is None or not task_id:
        return False
    return store.get(stop_key(task_id)) is not None


class ProgressReporter:
    """The ``report(step, **metrics)`` callable handed to an objective."""

    def __init__(self, task: _ProgressTask, task_id: str | None, trial_index: int) -> None:
        self._task = task
        self._task_id = task_id
        self._trial_index = trial_index
        self.points: list[dict[str, Any]] = []
        self.stopped: StopTrial | None = None

    def __call__(self, step: float, **metrics: Any) -> None:
        """Record one point; raise :class:`StopTrial` if the scheduler asked to stop."""
        where = f"trial {self._trial_index}, progress step {step!r}"
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
            raise InvalidObjectiveResult(f"{where}: step must be a finite number")
        if "step" in metrics:
            raise InvalidObjectiveResult(f"{where}: 'step' cannot be a metric name")
        point: dict[str, Any] = {"step": step, **normalize_metrics(metrics, where)}
        self.points.append(point)
        if self._task_id is not None:
            self._task.update_state(
                task_id=self._task_id, state=PROGRESS_STATE, meta={"progress": self.points}
            )
        if is_stop_requested(self._task.backend, self._task_id):
            self.stopped = StopTrial(
                f"trial {self._trial_index} was stopped early at step {step!r} by the scheduler",
                self.points,
            )
            raise self.stopped

    def save_curve(self) -> None:
        """Leave every reported point where the scheduler reads a finished trial's curve."""
        store = _key_value(self._task.backend)
        if self.points and self._task_id is not None and store is not None:
            store.set(curve_key(self._task_id), json.dumps(self.points))
