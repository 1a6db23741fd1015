"""`CeleryRunner` and `CeleryMetric`: trials as Celery tasks, results from the backend.

`run` sends `bo_scheduler.evaluate` with `{"trial_index", "objective",
"parameters", "options"}` under a task id derived from the runner's namespace
and the trial index, after writing a send marker: a scheduler that crashed
between sending and saving re-attaches to the task instead of sending it
again. `poll_trial_status` reads every outstanding task in one round trip and
maps Celery states per `scheduler.celery.task_states`.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kombu.exceptions import OperationalError as KombuOperationalError

from scheduler.celery.broker_queue import held_task_ids
from scheduler.celery.embedded import ensure_embedded_worker, is_embedded
from scheduler.celery.results import ResultStore, TaskRecord
from scheduler.celery.task_states import TaskView, view_of
from scheduler.core.data import Data
from scheduler.core.errors import InvalidSchedulerOptionsError
from scheduler.core.metric import Metric, MetricFetchResult
from scheduler.core.result import Err, MetricFetchE, Ok
from scheduler.core.runner import Runner
from scheduler.core.trial import Trial, TrialStatus
from workers.progress import request_stop
from workers.protocol import COPY_HEADER, DEFAULT_QUEUE, TASK_NAME, result_problem

logger = logging.getLogger(__name__)

_TASK_ID_NAMESPACE = uuid.UUID("6f1c7c1e-3f5a-4c55-9b7e-2f4f2f1b0b42")
#: Send-marker values: being sent (followed by a unique token), and sent.
SENDING = b"sending "
SENT = b"sent"
#: How long `run` keeps retrying while Redis is unreachable before failing the trial.
SEND_RETRY_SECONDS = 30.0
T = TypeVar("T")


class CeleryRunner(Runner):
    """Deploys each trial as one Celery task on the app's broker (Redis, or embedded).

    Args:
        objective: registered objective name the workers evaluate.
        objective_options: JSON options passed to the objective (e.g. runtime_seconds).
        queue: Celery queue the workers consume.
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
        app: the Celery app; default `workers.app.app`, configured from the environment.
    """

    staging_required = True

    def __init__(
        self,
        objective: str,
        objective_options: dict[str, Any] | None = None,
        queue: str = DEFAULT_QUEUE,
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
        self._store: ResultStore | None = None
        self._views: dict[int, TaskView] = {}
        self._lost_since: dict[int, float] = {}
        self._capacity: tuple[float, int] | None = None
        self.progress: dict[int, list[dict[str, Any]]] = {}

    # -- plumbing --------------------------------------------------------------
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
        self._store = None

    @property
    def store(self) -> ResultStore:
        if self._store is None:
            if is_embedded(self.app):
                ensure_embedded_worker(self.app, self.embedded_concurrency, self.queue)
            self._store = ResultStore(self.app.backend)
        return self._store

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

    # -- Runner API ------------------------------------------------------------
    def _run_metadata(self, trial: Trial) -> dict[str, Any]:
        return {"task_id": self.task_id(trial), "queue": self.queue, "sent_at": time.time()}

    def find_sent(self, trial: Trial) -> dict[str, Any] | None:
        """Re-attach to the task of a trial that went out before a crash."""
        task_id = self.task_id(trial)
        try:
            sent = self._was_sent(task_id, self.store.marker(task_id))
        except self._connection_errors() as exc:  # as a poll would: learn nothing now
            logger.warning("cannot check trial %d's task: Redis unreachable (%s)", trial.index, exc)
            return None
        if not sent:
            return None  # never sent, or not known to be: the next `run` decides
        logger.info("trial %d: task %s was sent before a crash; re-attaching", trial.index, task_id)
        return {**self._run_metadata(trial), "reattached": True}

    def _was_sent(self, task_id: str, marker: bytes | None) -> bool:
        """Whether another (dead) scheduler's send of `task_id` went out: its marker
        says "sent", or says "sending" (killed before confirming) but a worker has
        already stored a state for the task. Confirms the marker in that case."""
        if marker is None:
            return False
        if not marker.startswith(SENDING):
            return True
        if self._retrying(lambda: self.store.read_one(task_id)) is None:
            return False  # not started (or never sent): sending again is the safe side
        self._retrying(lambda: self.store.set_marker(task_id, SENT))
        return True

    def run(self, trial: Trial) -> dict[str, Any]:
        metadata = self._run_metadata(trial)
        task_id = metadata["task_id"]
        # Two-phase marker: "sending <token>" before the send, "sent" after it. A marker
        # still "sending" was left by a scheduler that died before confirming: re-attach
        # if a worker has the task, else send again. Our own token means our SET NX went
        # through but a dropped connection lost its reply.
        token = SENDING + uuid.uuid4().hex.encode()
        if not self._retrying(lambda: self.store.mark_sent(task_id, token)):
            found = self._retrying(lambda: self.store.marker(task_id))
            if found != token:
                if self._was_sent(task_id, found):
                    logger.info(
                        "trial %d: task %s was already sent; re-attaching", trial.index, task_id
                    )
                    return {**metadata, "reattached": True}
                logger.warning(
                    "trial %d: task %s was being sent when a scheduler stopped; sending it",
                    trial.index,
                    task_id,
                )
                self._retrying(lambda: self.store.set_marker(task_id, token))
        try:
            self._publish(trial, task_id)
        except Exception:
            with contextlib.suppress(Exception):  # Redis may still be down
                self.store.unmark_sent(task_id)
            raise
        self._retrying(lambda: self.store.set_marker(task_id, SENT))
        return metadata

    def _publish(self, trial: Trial, task_id: str) -> None:
        """Send one copy of `trial`'s task, retrying while Redis is unreachable."""
        request = {
            "trial_index": trial.index,
            "objective": self.objective,
            "parameters": dict(trial.arm.parameters),
            "options": self.objective_options,
            "arm_name": trial.arm.name,
        }
        experiment = getattr(trial.experiment, "name", "?")
        # Each attempt is a distinct copy: an attempt whose reply a Redis restart
        # lost may have been stored, and the workers run only one copy
        # (workers.claim). So kombu must not repeat an attempt under the same copy id.
        self._retrying(
            lambda: self.app.send_task(
                TASK_NAME,
                args=[request],
                task_id=task_id,
                queue=self.queue,
                headers={COPY_HEADER: uuid.uuid4().hex},
                retry=False,
                argsrepr=f"trial {trial.index} of {experiment}: {self.objective}"
                f"({trial.arm.parameters})",
                kwargsrepr="{}",
            )
        )

    def _connection_errors(self) -> tuple[type[BaseException], ...]:
        backend_errors = getattr(self.app.backend, "connection_errors", ())
        return (OSError, KombuOperationalError, *backend_errors)

    def _retrying(self, call: Callable[[], T]) -> T:
        """`call()`, retried with backoff while Redis is unreachable (a restart)."""
        errors = self._connection_errors()
        deadline = time.monotonic() + SEND_RETRY_SECONDS
        delay = 0.1
        while True:
            try:
                return call()
            except errors as exc:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("Redis unreachable (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def poll_trial_status(self, trials: Iterable[Trial]) -> dict[TrialStatus, set[int]]:
        trials = list(trials)
        self._forget_all_but({t.index for t in trials})
        polled = [t for t in trials if "task_id" in t.run_metadata]
        task_ids = [t.run_metadata["task_id"] for t in polled]
        now = time.time()
        try:
            records = self.store.read_records(task_ids)
        except self._connection_errors() as exc:
            # Redis restarting or unreachable: learn nothing this poll, try again next.
            logger.warning("cannot poll %d trial(s): Redis unreachable (%s)", len(polled), exc)
            return {}
        statuses: dict[TrialStatus, set[int]] = {}
        for trial, record in zip(polled, records, strict=True):
            early = bool(trial.stop_metadata.get("early_stop"))
            view = self._apply_deadlines(trial, view_of(record.meta, record.sent, early), now)
            self._views[trial.index] = view
            # A completed task's own curve: its SUCCESS result replaced the PROGRESS state.
            finished_curve = record.curve if view.status is TrialStatus.COMPLETED else None
            progress = finished_curve or view.progress
            if progress:
                self.progress[trial.index] = progress
            if view.result is not None:
                trial.run_metadata["result"] = view.result
            statuses.setdefault(view.status, set()).add(trial.index)
        self._resend_vanished(polled, records, now)
        return statuses

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
            held = held_task_ids(self.app, self.queue)
            if held is None:
                return
            missing = [t for t in suspects if t.run_metadata["task_id"] not in held]
            # Started meanwhile (taken off the queue just after the read)?
            metas = self.store.read([t.run_metadata["task_id"] for t in missing])
            for trial, (meta, _) in zip(missing, metas, strict=True):
                if meta is not None:
                    continue
                logger.warning(
                    "trial %d: the broker lost task %s's message (a Redis restart can swallow "
                    "the reply that hands it to a worker); sending it again",
                    trial.index,
                    trial.run_metadata["task_id"],
                )
                self._publish(trial, trial.run_metadata["task_id"])
        except self._connection_errors() as exc:
            logger.warning("cannot look for vanished messages: Redis unreachable (%s)", exc)

    def _forget_all_but(self, outstanding: set[int]) -> None:
        """Drop what earlier polls kept of trials no longer polled: they have ended
        and their data (curves included) are on the experiment, so a long run's
        runner does not grow with every trial it ever ran."""
        for kept in (self.progress, self._views, self._lost_since):
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

    def seen_running(self, trial: Trial) -> bool:
        """Whether the last poll saw `trial` running (so it has no result yet)."""
        view = self._views.get(trial.index)
        return view is not None and view.status is TrialStatus.RUNNING

    def failure_reason(self, trial: Trial) -> str | None:
        view = self._views.get(trial.index)
        return None if view is None else view.reason

    def stop(self, trial: Trial, reason: str | None = None) -> dict[str, Any]:
        """Ask the worker to stop: cooperatively when the objective reports progress,
        else by revoking with terminate (the worker checks the task id it terminates)."""
        task_id = trial.run_metadata.get("task_id")
        if not task_id:
            return {}
        request_stop(self.app.backend, task_id)
        cooperative = trial.index in self.progress
        self.app.control.revoke(task_id, terminate=not cooperative, signal="SIGTERM")
        return {"stop_requested_at": time.time(), "terminated": not cooperative}

    def poll_available_capacity(self) -> int:
        """Free worker slots on the fleet (cached), or -1 when no worker answers."""
        if is_embedded(self.app):
            return -1
        now = time.monotonic()
        if self._capacity is not None and now - self._capacity[0] < self.capacity_cache_seconds:
            return self._capacity[1]
        capacity = -1
        try:
            inspect = self.app.control.inspect(timeout=0.5)
            stats = inspect.stats() or {}
            if stats:
                slots = sum(
                    int(s.get("pool", {}).get("max-concurrency", 0)) for s in stats.values()
                )
                busy = sum(len(v) for v in (inspect.active() or {}).values())
                busy += sum(len(v) for v in (inspect.reserved() or {}).values())
                capacity = max(0, slots - busy)
        except Exception:
            logger.warning("could not inspect workers for capacity", exc_info=True)
        self._capacity = (now, capacity)
        return capacity


class CeleryMetric(Metric):
    """Reads metric `name` from the trial's stored task result.

    Args:
        sem: the SEM to report when the objective returns a bare value: None
            (unknown noise, inferred by the model) or e.g. 0.0 (noiseless).
    """

    def __init__(self, name: str, lower_is_better: bool | None = None, sem: float | None = None):
        super().__init__(name, lower_is_better)
        self.sem = sem

    @property
    def reports_progress(self) -> bool:
        return True

    def serialize_init_args(self) -> dict[str, Any]:
        return {**super().serialize_init_args(), "sem": self.sem}

    def fetch_trial_data(self, trial: Trial) -> MetricFetchResult:
        runner = getattr(trial.experiment, "runner", None)
        rows = self._progress_rows(trial, runner)
        result = trial.run_metadata.get("result")
        if (
            result is None
            and isinstance(runner, CeleryRunner)
            and "task_id" in trial.run_metadata
            # Seen running at the last poll: no result to read. Early stopping fetches
            # running trials' progress each poll; this keeps that to no extra round trip.
            and not runner.seen_running(trial)
        ):
            meta = runner.store.read_one(trial.run_metadata["task_id"])
            if meta is not None and meta.get("status") == "SUCCESS":
                result = meta.get("result")
                trial.run_metadata["result"] = result
        if result is not None:
            problem = result_problem(result)
            if problem is not None:
                return Err(MetricFetchE(f"trial {trial.index}: {problem}"))
            if self.name not in result:
                return Err(
                    MetricFetchE(
                        f"trial {trial.index}: result has no metric {self.name!r} (it has "
                        f"{sorted(result)}); return it from the objective or fix the metric name"
                    )
                )
            mean, sem = self._mean_sem(result[self.name])
            rows.append(self._row(trial, mean, sem, None))
        if not rows:
            return Err(
                MetricFetchE(f"trial {trial.index}: no result or progress for {self.name!r} yet")
            )
        return Ok(Data.from_rows(rows))

    def _progress_rows(self, trial: Trial, runner: Any) -> list[dict[str, Any]]:
        points = runner.progress.get(trial.index, []) if isinstance(runner, CeleryRunner) else []
        rows = []
        for point in points:
            if self.name in point:
                mean, sem = self._mean_sem(point[self.name])
                rows.append(self._row(trial, mean, sem, float(point["step"])))
        return rows

    def _mean_sem(self, value: Any) -> tuple[float, float | None]:
        if isinstance(value, list):
            return float(value[0]), (
                None if len(value) < 2 or value[1] is None else float(value[1])
            )
        return float(value), self.sem

    def _row(
        self, trial: Trial, mean: float, sem: float | None, step: float | None
    ) -> dict[str, Any]:
        return {
            "trial_index": trial.index,
            "arm_name": trial.arm.name,
            "metric_name": self.name,
            "mean": mean,
            "sem": sem,
            "step": step,
        }
