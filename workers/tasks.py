"""The evaluation task: one trial, one Celery task.

The scheduler sends ``bo_scheduler.evaluate`` with one JSON argument,
``{"trial_index": int, "objective": str, "parameters": {...}, "options": {...}}``.
The task returns exactly ``{metric: value}`` or ``{metric: [mean, sem]}``;
the trial index stays in the task's args, which ``result_extended`` stores.

Every failure is raised as a :mod:`workers.errors` exception whose message
names the trial and says what went wrong, because the last line of the
stored traceback becomes the trial's failure reason. That includes a trial
the pool kills at the hard time limit (:class:`TrialTaskRequest`), which is
final: stored FAILURE and acknowledged, and a copy of its message delivered
again later finds that outcome and is dropped unrun (:func:`_start`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task, shared_task, states
from celery.exceptions import Ignore, SoftTimeLimitExceeded, TimeLimitExceeded
from celery.worker import state as worker_state
from celery.worker.request import Request

from workers.claim import claim_execution
from workers.errors import ObjectiveFailed, StopTrial, TrialTimeLimitExceeded, WorkerError
from workers.objectives import get_objective
from workers.progress import ProgressReporter
from workers.protocol import COPY_HEADER, TASK_NAME, MetricValue, normalize_metrics, parse_request
from workers.settings import ENV_TRIAL_SOFT_TIME_LIMIT

logger = logging.getLogger(__name__)


def _soft_time_limit(task: Task) -> float | None:
    """The soft limit in force: the message's, the task's, else the app's."""
    timelimit = getattr(task.request, "timelimit", None) or (None, None)
    soft = timelimit[1] if len(timelimit) > 1 else None
    return soft or task.soft_time_limit or task.app.conf.task_soft_time_limit


def _stop(task: Task, stop: StopTrial) -> None:
    """Store the trial as REVOKED (reason + progress) and keep Celery from overwriting it."""
    task.backend.store_result(task.request.id, stop, states.REVOKED, request=task.request)
    raise Ignore()


def _start(task: Task) -> None:
    """Claim the trial for this message copy and record it STARTED, or drop a duplicate.

    The app leaves ``task_track_started`` off: Celery would store STARTED before
    the claim, over the outcome of a copy that already failed or was stopped."""
    request = task.request
    stored = task.backend.get_state(request.id)
    if stored in states.READY_STATES:
        # This trial already has its outcome (e.g. FAILURE after a hard-limit kill
        # whose message Redis redelivered before the acknowledgement): never rerun it.
        logger.warning(
            "task %s already ended %s; this duplicate copy is dropped unrun", request.id, stored
        )
        raise Ignore()
    if not claim_execution(task.backend, request.id, getattr(request, COPY_HEADER, None)):
        raise Ignore()
    meta = {"pid": os.getpid(), "hostname": request.hostname}
    task.backend.store_result(request.id, meta, states.STARTED, request=request)


def _trial_index(args: Any) -> str:
    """The trial index in a task's args, for messages (``?`` when they are not a request)."""
    request = args[0] if isinstance(args, (list, tuple)) and args else None
    index = request.get("trial_index") if isinstance(request, dict) else None
    return str(index) if isinstance(index, int) else "?"


def _hard_limit_error(args: Any, timeout: float) -> TrialTimeLimitExceeded:
    """What a trial killed at the hard time limit failed with: the trial, the limit, the fix."""
    request = args[0] if isinstance(args, (list, tuple)) and args else None
    objective = request.get("objective") if isinstance(request, dict) else None
    return TrialTimeLimitExceeded(
        f"trial {_trial_index(args)} (objective {objective!r}) was killed at the hard "
        f"time limit of {timeout:g} s (the soft limit's SoftTimeLimitExceeded did not end "
        f"it); raise {ENV_TRIAL_SOFT_TIME_LIMIT} on the workers, or let the objective "
        "stop when SoftTimeLimitExceeded is raised"
    )


class TrialTaskRequest(Request):
    """Celery's worker-side request, with a hard-time-limit kill that says what to do.

    Celery stores a bare ``TimeLimitExceeded(<seconds>,)`` for a task its pool
    kills at the hard limit, from two handlers (the job's failure, then the
    timeout). Both store :class:`TrialTimeLimitExceeded` naming the trial, the
    limit and the fix here, and the message is acknowledged: the kill is
    final, the trial failed and is not run again. Celery's extension point
    for this is the task's ``Request`` class.
    """

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(exc, TimeLimitExceeded):
            timeout = exc.args[0] if exc.args else float("nan")
            try:
                raise _hard_limit_error(self.args, timeout) from None
            except TrialTimeLimitExceeded:
                exc_info = ExceptionInfo()
        super().on_failure(exc_info, send_failed_event, return_ok)

    def on_timeout(self, soft: bool, timeout: float) -> None:
        if soft or worker_state.should_terminate:
            super().on_timeout(soft, timeout)
            return
        worker_state.task_ready(self)
        exc = _hard_limit_error(self.args, timeout)
        logger.error("%s [task %s]", exc, self.id)
        self.task.backend.mark_as_failure(
            self.id, exc, request=self._context, store_result=self.store_errors
        )
        if self.task.acks_late:
            self.acknowledge()


@shared_task(bind=True, name=TASK_NAME, Request=TrialTaskRequest)
def evaluate(self: Task, request: dict[str, Any]) -> dict[str, MetricValue]:
    """Evaluate one trial's parameters with the registered objective it names."""
    _start(self)
    trial = parse_request(request)
    where = f"trial {trial.trial_index} (objective {trial.objective!r})"
    try:
        registered = get_objective(trial.objective)
        registered.check_options(trial.options)
        kwargs: dict[str, Any] = dict(trial.options)
        reporter: ProgressReporter | None = None
        if registered.accepts_report:
            reporter = ProgressReporter(self, self.request.id, trial.trial_index)
            kwargs["report"] = reporter
        try:
            raw = registered.function(dict(trial.parameters), **kwargs)
        except (WorkerError, SoftTimeLimitExceeded):
            raise
        except Exception as exc:
            # One line: the traceback's last line is what the scheduler shows.
            message = " ".join(str(exc).split())
            raise ObjectiveFailed(f"{where} raised {type(exc).__name__}: {message}") from exc
        if reporter is not None and reporter.stopped is not None:
            # The objective swallowed StopTrial; the trial was still stopped.
            raise reporter.stopped
        metrics = normalize_metrics(raw, where, registered.metrics)
        if reporter is not None:
            reporter.save_curve()  # before Celery stores SUCCESS over the PROGRESS state
        return metrics
    except StopTrial as stop:
        _stop(self, stop)
        raise  # unreachable: _stop raises Ignore
    except SoftTimeLimitExceeded as exc:
        limit = _soft_time_limit(self)
        shown = f"{limit:g} s" if limit else "its soft time limit"
        raise TrialTimeLimitExceeded(
            f"{where} exceeded the soft time limit of {shown}; raise {ENV_TRIAL_SOFT_TIME_LIMIT} "
            "on the workers or make the objective faster"
        ) from exc
