"""An in-process Celery worker for embedded mode (no broker configured).

Same task, same code path as a fleet: kombu's in-memory transport (polled
every few ms, not the default 1 s) and a thread pool inside this process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from celery._state import _set_task_join_will_block

from workers.app import load_objective_modules
from workers.objectives import objective_names
from workers.protocol import DEFAULT_QUEUE, objective_queue

logger = logging.getLogger(__name__)


@dataclass
class _EmbeddedWorker:
    """An app's in-process worker and every queue it consumes."""

    worker: Any
    queues: set[str]


_lock = threading.Lock()
_workers: dict[int, _EmbeddedWorker] = {}
#: How long a started worker may take to answer a request to consume one more queue.
ADD_QUEUE_SECONDS = 30.0


def is_embedded(app: Any) -> bool:
    return str(app.conf.broker_url).startswith("memory://")


def ensure_embedded_worker(app: Any, concurrency: int = 2, queue: str = DEFAULT_QUEUE) -> Any:
    """Start (once per app) a thread-pool worker in this process, consuming `queue`,
    the default queue and every registered objective's queue (as a fleet worker does).

    A later call with a queue the worker does not consume (another experiment of a
    shared daemon with a `runner.queue` of its own) makes the running worker consume
    it too (Celery's `add_consumer` remote control, handled in the worker's own
    thread), so that experiment's trials never wait for a consumer that does not
    exist.
    """
    with _lock:
        running = _workers.get(id(app))
        if running is not None:
            if queue not in running.queues:
                _consume_also(app, running.worker, queue)
                running.queues.add(queue)
            return running.worker
        load_objective_modules()
        # Threads other than this one resolve the "current" app; make it ours, or
        # tasks run there store results in a disabled backend.
        app.set_default()
        app.set_current()
        queues = {queue, DEFAULT_QUEUE, *(objective_queue(name) for name in objective_names())}
        worker = app.WorkController(
            pool_cls="threads",
            concurrency=concurrency,
            queues=sorted(queues),
            hostname=f"embedded-{id(app)}@localhost",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel=logging.WARNING,
            redirect_stdouts=False,
        )
        # Building the pool marks this process as a worker, after which Celery
        # refuses `AsyncResult.get()` anywhere in it; the embedding process is
        # not a worker, so undo that (as celery.contrib.testing.worker does).
        _set_task_join_will_block(False)
        thread = threading.Thread(target=worker.start, name="bo-embedded-worker", daemon=True)
        thread.start()
        _workers[id(app)] = _EmbeddedWorker(worker, queues)
        logger.info("embedded worker started (%d threads)", concurrency)
        return worker


def _consume_also(app: Any, worker: Any, queue: str) -> None:
    """Ask the running in-process `worker` to consume `queue` as well; retried until
    it answers, since a worker still starting has no remote-control queue yet."""
    deadline = time.monotonic() + ADD_QUEUE_SECONDS
    while not app.control.add_consumer(
        queue, destination=[worker.hostname], reply=True, timeout=0.5
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the in-process worker did not start consuming queue {queue!r} "
                f"within {ADD_QUEUE_SECONDS:.0f} s"
            )
    logger.info("embedded worker also consumes queue %s", queue)


def stop_embedded_worker(app: Any) -> None:
    with _lock:
        running = _workers.pop(id(app), None)
    if running is not None:
        running.worker.stop(in_sighandler=False)
