"""The remote-control command a worker answers with the objectives it serves.

``celery -A workers.app inspect bo_objectives`` (or a broadcast of
:data:`~workers.protocol.OBJECTIVES_COMMAND`) asks every live worker; the
scheduler asks before it sends the first trial (``scheduler.celery.fleet``),
so a misspelt objective, or one no worker has loaded, is refused before any
trial is spent. The same answer carries the pool size and the trials the
worker holds, so capacity and ``bo-scheduler workers`` need one broadcast,
not four (each reply can miss a short timeout). Registered with Celery's
own ``inspect_command`` when ``workers.app`` is imported, as every worker does.
"""

from __future__ import annotations

from typing import Any

from celery.worker import state as worker_state
from celery.worker.control import inspect_command

from workers.objectives import objective_names
from workers.protocol import OBJECTIVES_COMMAND


def _trial(request: Any) -> dict[str, Any]:
    """The task id, trial index and objective of a request the worker holds."""
    args = getattr(request, "args", None)
    body = args[0] if isinstance(args, (list, tuple)) and args else None
    body = body if isinstance(body, dict) else {}
    return {
        "task_id": str(getattr(request, "id", "?")),
        "trial_index": body.get("trial_index"),
        "objective": body.get("objective"),
    }


@inspect_command(name=OBJECTIVES_COMMAND)
def bo_objectives(state: Any, **_: Any) -> dict[str, Any]:
    """This worker's objectives, queues, pool size and trials (running, reserved)."""
    consumer = getattr(state, "consumer", None)
    task_consumer = getattr(consumer, "task_consumer", None)
    queues = sorted(q.name for q in getattr(task_consumer, "queues", None) or [])
    pool = getattr(consumer, "pool", None)
    info = getattr(pool, "info", None) or {}
    active = list(worker_state.active_requests)
    reserved = [r for r in worker_state.reserved_requests if r not in worker_state.active_requests]
    return {
        "objectives": objective_names(),
        "queues": queues,
        "concurrency": info.get("max-concurrency") if isinstance(info, dict) else None,
        "active": [_trial(r) for r in active],
        "reserved": [_trial(r) for r in reserved],
    }
