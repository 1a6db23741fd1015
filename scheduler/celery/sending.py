"""Sending a trial's task once per trial, through Redis restarts and scheduler crashes.

A two-phase *send marker* in the result backend records each send:
``"sending <token>"`` before the publish and ``"sent"`` after it. A scheduler
that crashed between sending and saving the trial finds the marker on resume
and re-attaches to the task instead of sending it again; a marker still
``"sending"`` was left by a scheduler that died before confirming, and the
task is sent again unless a worker already stored a state for it. Every
publish attempt carries its own copy id (``COPY_HEADER``) and the workers run
one copy per task id (``workers.claim``), so a resend never runs a trial twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from kombu.exceptions import OperationalError as KombuOperationalError

from scheduler.celery.results import ResultStore
from workers.protocol import COPY_HEADER, TASK_NAME, build_request

logger = logging.getLogger("scheduler.celery.runner")

#: Send-marker values: being sent (followed by a unique token), and sent.
SENDING = b"sending "
SENT = b"sent"
#: How long a send keeps retrying while Redis is unreachable before it fails.
SEND_RETRY_SECONDS = 30.0
T = TypeVar("T")


class TaskSender:
    """Publishes trials' tasks on `app` and keeps their send markers in `store`."""

    def __init__(self, app: Any, store: ResultStore, queue: str) -> None:
        self.app = app
        self.store = store
        self.queue = queue

    def connection_errors(self) -> tuple[type[BaseException], ...]:
        """What a Redis restart or outage raises from the broker or the backend."""
        backend_errors = getattr(self.app.backend, "connection_errors", ())
        return (OSError, KombuOperationalError, *backend_errors)

    def retrying(self, call: Callable[[], T]) -> T:
        """`call()`, retried with backoff while Redis is unreachable (a restart)."""
        errors = self.connection_errors()
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

    def was_sent(self, task_id: str) -> bool:
        """Whether an earlier (dead) scheduler's send of `task_id` went out."""
        return self._confirmed(task_id, self.store.marker(task_id))

    def _confirmed(self, task_id: str, marker: bytes | None) -> bool:
        """The marker says "sent", or says "sending" (killed before confirming) but a
        worker has already stored a state for the task; confirms it in that case."""
        if marker is None:
            return False
        if not marker.startswith(SENDING):
            return True
        if self.retrying(lambda: self.store.read_one(task_id)) is None:
            return False  # not started (or never sent): sending again is the safe side
        self.retrying(lambda: self.store.set_marker(task_id, SENT))
        return True

    def send_once(self, request: dict[str, Any], task_id: str, description: str) -> bool:
        """Send `request` as task `task_id` unless it was already sent; True if it was
        (the caller re-attaches). `description` names the trial in logs and Flower."""
        token = SENDING + uuid.uuid4().hex.encode()
        if not self.retrying(lambda: self.store.mark_sent(task_id, token)):
            found = self.retrying(lambda: self.store.marker(task_id))
            if found != token:  # our own token: the SET NX went through, its reply was lost
                if self._confirmed(task_id, found):
                    return True
                logger.warning(
                    "%s: task %s was being sent when a scheduler stopped; sending it",
                    description,
                    task_id,
                )
                self.retrying(lambda: self.store.set_marker(task_id, token))
        try:
            self.publish(request, task_id, description)
        except Exception:
            with contextlib.suppress(Exception):  # Redis may still be down
                self.store.unmark_sent(task_id)
            raise
        self.retrying(lambda: self.store.set_marker(task_id, SENT))
        return False

    def publish(self, request: dict[str, Any], task_id: str, description: str) -> None:
        """Send one copy of the task, retrying while Redis is unreachable.

        Each attempt is a distinct copy: an attempt whose reply a Redis restart
        lost may have been stored, and the workers run only one copy
        (``workers.claim``), so kombu must not repeat an attempt under one copy id.
        """
        self.retrying(
            lambda: self.app.send_task(
                TASK_NAME,
                args=[request],
                task_id=task_id,
                queue=self.queue,
                headers={COPY_HEADER: uuid.uuid4().hex},
                retry=False,
                argsrepr=description,
                kwargsrepr="{}",
            )
        )


def trial_request(trial: Any, objective: str, options: dict[str, Any]) -> dict[str, Any]:
    """The wire request for `trial` (see ``workers.protocol``)."""
    return build_request(
        trial.index, objective, trial.arm.parameters, options, arm_name=trial.arm.name
    )
