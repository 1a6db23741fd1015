"""Celery task states -> trial statuses (the table in DESIGN.md), as pure functions.

Celery writes nothing when a task is sent (celery#4450): a missing result
key reads PENDING whether the task is queued or was lost. The runner writes
a *send marker* before sending; a missing result *and* a missing marker means
the backend lost its data (e.g. Redis restarted without persistence).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from scheduler.core.trial import TrialStatus
from workers.protocol import result_problem

QUEUED_STATES = frozenset({"PENDING", "RECEIVED"})
RUNNING_STATES = frozenset({"STARTED", "RETRY", "PROGRESS"})
FAILED_STATES = frozenset({"FAILURE", "REJECTED"})


@dataclass(frozen=True)
class TaskView:
    """What one poll learned about one task."""

    status: TrialStatus
    reason: str | None = None
    result: Any = None
    progress: list[dict[str, Any]] | None = None

    def with_progress(self, progress: list[dict[str, Any]] | None) -> TaskView:
        """This view with `progress` as its curve."""
        return replace(self, progress=progress)


def view_of(
    meta: dict[str, Any] | None,
    marker_present: bool,
    stopped_early: bool,
    curve: list[dict[str, Any]] | None = None,
) -> TaskView:
    """Map a decoded `celery-task-meta-*` value (or None) to a `TaskView`.

    `curve` is what a finished task left under its curve key: a SUCCESS result
    replaces the PROGRESS state that held the curve, so a completed view takes it.
    """
    if meta is None:
        if not marker_present:
            return TaskView(TrialStatus.FAILED, reason="lost")
        return TaskView(TrialStatus.STAGED)
    state = str(meta.get("status", "PENDING"))
    result = meta.get("result")
    if state in QUEUED_STATES:
        return TaskView(TrialStatus.STAGED)
    if state == "RETRY" and not marker_present:
        # Our task never retries itself: RETRY is a worker cancelling it on a broker
        # drop, to be redelivered from Redis. Without the send marker Redis lost its
        # data, that message included: nothing will ever run the trial again.
        return TaskView(TrialStatus.FAILED, reason="lost")
    if state in RUNNING_STATES:
        progress = result.get("progress") if isinstance(result, dict) else None
        return TaskView(TrialStatus.RUNNING, progress=progress)
    if state == "SUCCESS":
        problem = result_problem(result)
        if problem is not None:
            return TaskView(TrialStatus.FAILED, reason=problem)
        return TaskView(TrialStatus.COMPLETED, result=result, progress=curve)
    if state in FAILED_STATES:
        return TaskView(TrialStatus.FAILED, reason=failure_reason(meta))
    if state == "REVOKED":
        progress = revoked_progress(result)
        if stopped_early:
            return TaskView(TrialStatus.EARLY_STOPPED, progress=progress)
        return TaskView(TrialStatus.ABANDONED, reason="task revoked", progress=progress)
    return TaskView(TrialStatus.FAILED, reason=f"unknown Celery state {state!r}")


def failure_reason(meta: dict[str, Any]) -> str:
    """The traceback's last line, else the exception's type and message."""
    traceback = meta.get("traceback")
    if isinstance(traceback, str):
        lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
        if lines:
            return lines[-1]
    result = meta.get("result")
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    if isinstance(result, dict) and "exc_type" in result:
        message = result.get("exc_message")
        if isinstance(message, (list, tuple)):
            message = " ".join(str(m) for m in message)
        return f"{result['exc_type']}: {message}"
    return f"task failed: {result!r}"


def revoked_progress(result: Any) -> list[dict[str, Any]] | None:
    """Progress points a cooperatively stopped trial stored with its REVOKED state."""
    if isinstance(result, BaseException) and len(result.args) > 1:
        points = result.args[1]
        return list(points) if isinstance(points, (list, tuple)) else None
    if isinstance(result, dict):
        message = result.get("exc_message")
        if isinstance(message, (list, tuple)) and len(message) > 1:
            points = message[1]
            return list(points) if isinstance(points, (list, tuple)) else None
    return None
