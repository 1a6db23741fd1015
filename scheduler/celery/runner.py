"""`CeleryRunner`: each trial one Celery task; each poll one read of every outstanding task.

`run` sends `bo_scheduler.evaluate` (see ``workers.protocol``) under a task id
derived from the runner's namespace and the trial index, through
`scheduler.celery.sending`, so a scheduler that crashed between sending and
saving re-attaches to the task instead of sending it again.

`poll_trial_status` reads every outstanding task in one round trip and maps
Celery states per `scheduler.celery.task_states`. The poll produces one
`TaskView` per trial (status, reason, result, curve): `failure_reason` and
`CeleryMetric` read that view, so nothing is copied into the trial's run
metadata and the poll is never redone by its readers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from scheduler.celery.broker_queue import held_task_ids
from scheduler.celery.embedded import ensure_embedded_worker, is_embedded
from scheduler.celery.fleet import free_slots
from scheduler.celery.results import ResultStore, TaskRecord
from scheduler.celery.sending import TaskSender, trial_request
from scheduler.celery.task_states import TaskView, view_of
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.runner import Runner
from scheduler.core.trial import Trial, TrialStatus
from workers.progress import request_stop
from workers.protocol import DEFAULT_QUEUE, objective_queue

logger = logging.getLogger(__name__)

_TASK_ID_NAMESPACE = uuid.UUID("6f1c7c1e-3f5a-4c55-9b7e-2f4f2f1b0b42")


class CeleryRunner(Runner):
    """Deploys each trial as one Celery task on the app's broker (Redis, or embedded).

    Args:
        objective: registered objective name the workers evaluate.
        objective_options: JSON options passed to the objective (e.g. runtime_seconds).
        queue: Celery queue to send the trials to; default (None): the objective's
            own queue ``bo-trials.<objective>``, which only workers that have the
            objective consume (``workers.protocol.objective_queue``).
        namespace: makes task ids unique per experiment; generated once and
            stored with the runner so a resumed scheduler finds its tasks.
        lost_after_seconds: a task whose result and send record have both
            vanished (the backend lost its data) is failed as "lost" after this.
        max_queued_seconds: fail a task still queued after this long (None: never).
        vanished_check_seconds: at most this often, look for the messages of tasks
            sent at least this long ago that no worker has started, and send again
            those the broker no longer holds (None: never; see `broker_queue`).
        capacity_cache_seconds: how long a fleet-capacity reading is reused.
        embedded_concurrency: threads of the in-process worker in embedded mode.
        app: the Celery app; default `workers.app.app`, built from the environment
            on first use. A runner loaded from storage is bound with `bind_app`.
    """

    staging_required = True

    def __init__(
        self,
        objective: str,
        objective_options: dict[str, Any] | None = None,
        queue: str | None = None,
        namespace: str | None = None,
        lost_after_seconds: float = 30.0,
        max_queued_seconds: float | None = None,
        vanished_check_seconds: float | None = 60.0,
        capacity_cache_seconds: float = 30.0,
        embedded_concurrency: int = 2,
        app: Any = None,
    ) -> None:
        if not objective or not isinstance(objective, str):
            raise InvalidSchedulerOptionsError(
                "CeleryRunner needs the registered objective name, e.g. "
                "CeleryRunner(objective='branin')."
            )
        if lost_after_seconds < 0 or any(
            seconds is not None and seconds <= 0
            for seconds in (max_queued_seconds, vanished_check_seconds)
        ):
            raise InvalidSchedulerOptionsError(
                "CeleryRunner: lost_after_seconds must be >= 0, and max_queued_seconds and "
                "vanished_check_seconds > 0 (or None)."
            )
        self.objective = objective
        self.objective_options = dict(objective_options or {})
        self.queue = queue
        self.namespace = namespace or uuid.uuid4().hex
        self.lost_after_seconds = lost_after_seconds
        self.max_queued_seconds = max_queued_seconds
        self.vanished_check_seconds = vanished_check_seconds
        self._last_vanished_check = time.monotonic()
        self.capacity_cache_seconds = capacity_cache_seconds
        self.embedded_concurrency = embedded_concurrency
        self._app = app
        self._sender: TaskSender | None = None
        self._views: dict[int, TaskView] = {}
        self._lost_since: dict[int, float] = {}
        self._capacity: tuple[float, int] | None = None

    # -- plumbing --------------------------------------------------------------
    @property
    def send_queue(self) -> str:
        """The queue trials go to: the configured one, else the objective's own on a
        fleet, and the default queue embedded (the in-process worker has every
        objective this process registered, even one registered after it started)."""
        if self.queue:
            return self.queue
        return DEFAULT_QUEUE if is_embedded(self.app) else objective_queue(self.objective)

    @property
    def app(self) -> Any:
        if self._app is None:
            from workers.app import app

            self._app = app
        return self._app

    @app.setter
    def app(self, app: Any) -> None:
        """Use `app` (e.g. for a runner loaded from storage) from now on."""
        self._app = app
        self._sender = None

    @property
    def sender(self) -> TaskSender:
        """The app's sender; starts the in-process worker first in embedded mode."""
        if self._sender is None:
            if is_embedded(self.app):
                ensure_embedded_worker(self.app, self.embedded_concurrency, self.send_queue)
            self._sender = TaskSender(self.app, ResultStore(self.app.backend), self.send_queue)
        return self._sender

    @property
    def store(self) -> ResultStore:
        """Reads of the result backend (task metas, send markers, curves)."""
        return self.sender.store

    def task_id(self, trial: Trial) -> str:
        """Deterministic per (runner namespace, trial index)."""
        return str(uuid.uuid5(_TASK_ID_NAMESPACE, f"{self.namespace}/{trial.index}"))

    def serialize_init_args(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "objective_options": self.objective_options,
            "queue": self.queue,
            "namespace": self.namespace,
            "lost_after_seconds": self.lost_after_seconds,
            "max_queued_seconds": self.max_queued_seconds,
            "vanished_check_seconds": self.vanished_check_seconds,
            "capacity_cache_seconds": self.capacity_cache_seconds,
            "embedded_concurrency": self.embedded_concurrency,
        }

    # -- sending ---------------------------------------------------------------
    def _run_metadata(self, trial: Trial) -> dict[str, Any]:
        return {"task_id": self.task_id(trial), "queue": self.send_queue, "sent_at": time.time()}

    def _describe(self, trial: Trial) -> str:
        experiment = getattr(trial.experiment, "name", "?")
        return f"trial {trial.index} of {experiment}: {self.objective}({trial.arm.parameters})"

    def run(self, trial: Trial) -> dict[str, Any]:
        metadata = self._run_metadata(trial)
        request = trial_request(trial, self.objective, self.objective_options)
        if self.sender.send_once(request, metadata["task_id"], self._describe(trial)):
            logger.info(
                "trial %d: task %s was already sent; re-attaching", trial.index, metadata["task_id"]
            )
            return {**metadata, "reattached": True}
        return metadata

    def find_sent(self, trial: Trial) -> dict[str, Any] | None:
        """Run metadata of a CANDIDATE trial whose task went out before a crash, or
        None (never sent, or not known to be: the next `run` decides)."""
        task_id = self.task_id(trial)
        try:
            sent = self.sender.was_sent(task_id)
        except self.sender.connection_errors() as exc:  # as a poll would: learn nothing now
            logger.warning("cannot check trial %d's task: Redis unreachable (%s)", trial.index, exc)
            return None
        if not sent:
            return None
        logger.info("trial %d: task %s was sent before a crash; re-attaching", trial.index, task_id)
        return {**self._run_metadata(trial), "reattached": True}

    # -- polling ---------------------------------------------------------------
    @property
    def views(self) -> Mapping[int, TaskView]:
        """What the last poll learned about each trial it polled (read-only)."""
        return MappingProxyType(self._views)

    def view(self, trial: Trial) -> TaskView:
        """The last poll's view of `trial`; read now if no poll has covered it yet
        (a trial loaded from storage, or fetched before its first poll)."""
        found = self._views.get(trial.index)
        if found is not None or "task_id" not in trial.run_metadata:
            return found or TaskView(TrialStatus.CANDIDATE)
        task_id = trial.run_metadata["task_id"]
        (record,) = self.store.read_records([task_id])
        return view_of(record.meta, record.sent, _stopped_early(trial), record.curve)

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        trials = list(trials)
        self._forget_all_but({t.index for t in trials})
        polled = [t for t in trials if "task_id" in t.run_metadata]
        now = time.time()
        try:
            records = self.store.read_records([t.run_metadata["task_id"] for t in polled])
        except self.sender.connection_errors() as exc:
            # Redis restarting or unreachable: learn nothing this poll, try again next.
            logger.warning("cannot poll %d trial(s): Redis unreachable (%s)", len(polled), exc)
            return {}
        statuses: dict[TrialStatus, set[int]] = {}
        for trial, record in zip(polled, records, strict=True):
            view = view_of(record.meta, record.sent, _stopped_early(trial), record.curve)
            view = self._apply_deadlines(trial, view, now)
            if view.progress is None and trial.index in self._views:
                view = view.with_progress(self._views[trial.index].progress)  # keep the curve
            self._views[trial.index] = view
            statuses.setdefault(view.status, set()).add(trial.index)
        self._resend_vanished(polled, records, now)
        return statuses

    def failure_reason(self, trial: Trial) -> str | None:
        view = self._views.get(trial.index)
        return None if view is None else view.reason

    def _forget_all_but(self, outstanding: set[int]) -> None:
        """Drop what earlier polls kept of trials no longer polled: they have ended
        and their data (curves included) are on the experiment, so a long run's
        runner does not grow with every trial it ever ran."""
        for kept in (self._views, self._lost_since):
            for index in kept.keys() - outstanding:
                del kept[index]

    def _apply_deadlines(self, trial: Trial, view: TaskView, now: float) -> TaskView:
        """Give a vanished task a grace period; fail a task queued for too long."""
        if view.reason == "lost":
            since = self._lost_since.setdefault(trial.index, now)
            if now - since < self.lost_after_seconds:
                return TaskView(TrialStatus.STAGED)
            return TaskView(
                TrialStatus.FAILED,
                reason="lost: neither the task's result nor its send record is in the result "
                "backend (was Redis restarted without persistence or flushed?)",
            )
        self._lost_since.pop(trial.index, None)
        sent_at = float(trial.run_metadata.get("sent_at", now))
        if (
            view.status is TrialStatus.STAGED
            and self.max_queued_seconds is not None
            and now - sent_at > self.max_queued_seconds
        ):
            return TaskView(
                TrialStatus.FAILED,
                reason=f"lost: still queued after {self.max_queued_seconds:g} s",
            )
        return view

    def _resend_vanished(self, polled: list[Trial], records: list[TaskRecord], now: float) -> None:
        """Send again the tasks whose message the broker lost (see `broker_queue`)."""
        every = self.vanished_check_seconds
        if every is None or time.monotonic() - self._last_vanished_check < every:
            return
        if is_embedded(self.app):
            return  # the in-process broker loses nothing
        suspects = [
            trial
            for trial, record in zip(polled, records, strict=True)
            if record.meta is None  # no worker has started it
            and record.sent
            and now - float(trial.run_metadata.get("sent_at", now)) >= every
        ]
        if not suspects:
            return
        self._last_vanished_check = time.monotonic()
        try:
            held = held_task_ids(self.app, self.send_queue)
            if held is None:
                return
            missing = [t for t in suspects if t.run_metadata["task_id"] not in held]
            # Started meanwhile (taken off the queue just after the read)?
            metas = self.store.read([t.run_metadata["task_id"] for t in missing])
            for trial, (meta, _) in zip(missing, metas, strict=True):
                if meta is not None:
                    continue
                task_id = trial.run_metadata["task_id"]
                logger.warning(
                    "trial %d: the broker lost task %s's message (a Redis restart can swallow "
                    "the reply that hands it to a worker); sending it again",
                    trial.index,
                    task_id,
                )
                request = trial_request(trial, self.objective, self.objective_options)
                self.sender.publish(request, task_id, self._describe(trial))
        except self.sender.connection_errors() as exc:
            logger.warning("cannot look for vanished messages: Redis unreachable (%s)", exc)

    # -- stopping and capacity ---------------------------------------------------
    def stop(self, trial: Trial, reason: str | None = None) -> dict[str, Any]:
        """Ask the worker to stop: cooperatively when the objective reports progress,
        else by revoking with terminate (the worker checks the task id it terminates)."""
        task_id = trial.run_metadata.get("task_id")
        if not task_id:
            return {}
        request_stop(self.app.backend, task_id)
        view = self._views.get(trial.index)
        cooperative = view is not None and bool(view.progress)
        self.app.control.revoke(task_id, terminate=not cooperative, signal="SIGTERM")
        return {"stop_requested_at": time.time(), "terminated": not cooperative}

    def poll_available_capacity(self) -> int:
        """Free worker slots on the fleet (cached), or -1 when no worker answers."""
        if is_embedded(self.app):
            return -1
        now = time.monotonic()
        if self._capacity is not None and now - self._capacity[0] < self.capacity_cache_seconds:
            return self._capacity[1]
        self._capacity = (now, free_slots(self.app, self.send_queue))
        return self._capacity[1]


def _stopped_early(trial: Trial) -> bool:
    return bool(trial.stop_metadata.get("early_stop"))


def bind_app(app: Any) -> Callable[[Runner], None]:
    """A hook for `Scheduler.from_stored_experiment(bind_runner=...)`: a stored
    `CeleryRunner` sends with `app` instead of the default one."""

    def bind(runner: Runner) -> None:
        if isinstance(runner, CeleryRunner):
            runner.app = app

    return bind
