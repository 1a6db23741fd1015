"""The workers' Celery app, built and configured on first use.

``celery -A workers.app worker`` runs :data:`app`, and the scheduler sends
with it. :data:`app` is created the first time it is looked up (``workers.app.app``),
from ``os.environ`` through :func:`workers.settings.build_config`, so importing
this module never validates the environment: only a command that needs the
app meets a bad setting, as a :class:`~workers.errors.WorkerConfigError`
(one line on a ``celery`` command, never a traceback).

At start a worker imports its objective modules, then also consumes the
queue of every objective it has (``bo-trials.<objective>``, see
:func:`workers.protocol.objective_queue`) and answers the remote-control
command ``bo_objectives`` (:mod:`workers.control`), so the scheduler can
ask the fleet which objectives it serves and route each trial only to
workers that have its objective.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from celery import Celery
from celery.signals import celeryd_after_setup, celeryd_init, worker_ready

import workers.control  # noqa: F401  (registers the bo_objectives inspect command)
from workers import broker
from workers.errors import ObjectiveModuleError, WorkerConfigError
from workers.objectives import load_objective_modules as _load_objective_modules
from workers.objectives import objective_names
from workers.protocol import objective_queue
from workers.settings import APP_NAME, build_config

logger = logging.getLogger(__name__)


def make_app(environ: Mapping[str, str] | None = None) -> Celery:
    """A new Celery app configured from ``environ`` (default: ``os.environ``).

    The configuration is checked here, not on first use: a bad value raises
    :class:`WorkerConfigError` now rather than leaving an app that silently
    runs on Celery's defaults.
    """
    config = build_config(os.environ if environ is None else environ)
    if str(config["broker_url"]).split("://", 1)[0].lower() in broker.REDIS_ALIASES:
        broker.install()  # the hardened transport, under kombu's redis:// name
    celery_app = Celery(APP_NAME)
    celery_app.conf.update(config)
    return celery_app


_app: Celery | None = None
_app_lock = threading.Lock()


def default_app() -> Celery:
    """The process-wide app, made from ``os.environ`` the first time it is asked for."""
    global _app
    with _app_lock:
        if _app is None:
            _app = make_app()
        return _app


def __getattr__(name: str) -> Any:
    """``workers.app.app``: the default app, built on first lookup (PEP 562).

    ``celery -A workers.app`` looks ``app`` up the same way, so a worker still
    refuses a bad setting at start, naming the variable.
    """
    if name == "app":
        try:
            return default_app()
        except WorkerConfigError as exc:
            if "celery.bin.celery" not in sys.modules:
                raise  # a library caller (the scheduler) handles it
            # Celery's command line would print the whole chained traceback of the
            # failed app lookup; the message already says what to change.
            raise SystemExit(f"error: WorkerConfigError: {exc}") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_objective_modules(environ: Mapping[str, str] | None = None) -> list[str]:
    """Import the objective modules the environment allows (for an in-process worker).

    ``celery worker`` does this itself at start; an embedded worker started
    inside another process calls it before starting.
    """
    import workers.tasks  # noqa: F401  (registers the task with every app)

    return _load_objective_modules(environ)


#: The objective modules this worker loaded at start (logged once logging is set up).
_loaded_modules: list[str] = []


@celeryd_init.connect
def _load_objectives_at_worker_start(**_: Any) -> None:
    """Load user objectives before the pool forks, or refuse to start."""
    try:
        _loaded_modules[:] = load_objective_modules()
    except ObjectiveModuleError as exc:
        # Signal receivers' exceptions are only logged; SystemExit stops the worker.
        logger.critical("%s", exc)
        raise SystemExit(f"bo-scheduler worker cannot start: {exc}") from exc


@celeryd_after_setup.connect
def _consume_objective_queues(instance: Any, **_: Any) -> None:
    """Also consume ``bo-trials.<objective>`` for each objective this worker has.

    Only a worker on the default queue (``-Q bo-trials``, or no ``-Q``): one
    started on other queues only was given its queues on purpose. Runs after
    ``-Q`` is applied and before the consumer starts (Celery's hook for this).
    """
    queues = instance.app.amqp.queues
    if instance.app.conf.task_default_queue not in queues.consume_from:
        logger.info("not consuming objective queues: this worker's -Q omits the default queue")
        return
    for name in objective_names():
        queues.select_add(objective_queue(name))


@worker_ready.connect
def _log_objectives(sender: Any = None, **_: Any) -> None:
    """Tell the operator which objectives this worker can run (logging is set up by now)."""
    logger.info("loaded objective modules: %s", ", ".join(_loaded_modules) or "none")
    logger.info("objectives available: %s", ", ".join(objective_names()))
    task_consumer = getattr(sender, "task_consumer", None)
    queues = sorted(q.name for q in getattr(task_consumer, "queues", None) or [])
    if queues:
        logger.info("consuming queues: %s", ", ".join(queues))
