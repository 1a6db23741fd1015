"""An in-process Celery worker for embedded mode (no broker configured).

Same task, same code path as a fleet: kombu's in-memory transport (polled
every few ms, not the default 1 s) and a thread pool inside this process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery._state import _set_task_join_will_block

from workers.app import load_objective_modules
from workers.objectives import objective_names
from workers.protocol import DEFAULT_QUEUE, objective_queue

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_workers: dict[int, Any] = {}


def is_embedded(app: Any) -> bool:
    return str(app.conf.broker_url).startswith("memory://")


def ensure_embedded_worker(app: Any, concurrency: int = 2, queue: str = DEFAULT_QUEUE) -> Any:
    """Start (once per app) a thread-pool worker in this process, consuming `queue`,
    the default queue and every registered objective's queue (as a fleet worker does)."""
    with _lock:
        if id(app) in _workers:
            return _workers[id(app)]
        load_objective_modules()
        # Threads other than this one resolve the "current" app; make it ours, or
        # tasks run there store results in a disabled backend.
        app.set_default()
        app.set_current()
        worker = app.WorkController(
            pool_cls="threads",
            concurrency=concurrency,
            queues=sorted(
                {queue, DEFAULT_QUEUE, *(objective_queue(name) for name in objective_names())}
            ),
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
        _workers[id(app)] = worker
        logger.info("embedded worker started (%d threads)", concurrency)
        return worker


def stop_embedded_worker(app: Any) -> None:
    with _lock:
        worker = _workers.pop(id(app), None)
    if worker is not None:
        worker.stop(in_sighandler=False)
