"""The dashboard's fleet page: the workers, their objectives and the trials they hold.

Asked of the workers through the `bo_objectives` inspect command
(`scheduler.celery.fleet`) and of the broker (queue lengths), at most every
`ttl` seconds whatever the number of open pages: an inspect broadcast waits
for every worker's answer. The broker is the one the environment names
(`BO_BROKER_URL`), as for `bo-scheduler workers`; without one the page says
how to point it at the fleet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from scheduler.core.masking import mask_url

AppFactory = Callable[[], Any]


def app_from_environment() -> Any:
    """The fleet's Celery app from BO_BROKER_URL / BO_RESULT_BACKEND, or None (embedded)."""
    from scheduler.ops.config import celery_app_for, resolve_services

    services = resolve_services(None)
    return None if services.embedded else celery_app_for(services)


class FleetView:
    """What `/api/fleet` returns, cached for `ttl` seconds."""

    def __init__(self, app_factory: AppFactory = app_from_environment, ttl: float = 5.0) -> None:
        self.app_factory = app_factory
        self.ttl = ttl
        self._app: Any = None
        self._answer: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if self._answer is None or now - self._answer[0] >= self.ttl:
                self._answer = (now, self._ask())
            return self._answer[1]

    def _ask(self) -> dict[str, Any]:
        from scheduler.celery.fleet import fleet_workers, queue_lengths

        try:
            if self._app is None:
                self._app = self.app_factory()
            if self._app is None:
                return {
                    "broker": None,
                    "workers": [],
                    "queues": {},
                    "note": "no broker configured: start the dashboard with BO_BROKER_URL set "
                    "to the fleet's Redis to see its workers",
                }
            workers = fleet_workers(self._app)
            queues = sorted({q for w in workers for q in w.queues})
            lengths = queue_lengths(self._app, queues)
        except Exception as exc:  # the broker down: say so, keep the page alive
            return {
                "broker": None,
                "workers": [],
                "queues": {},
                "note": f"fleet unreachable: {exc}",
            }
        running = sum(t.state == "active" for w in workers for t in w.trials)
        reserved = sum(t.state == "reserved" for w in workers for t in w.trials)
        return {
            "broker": mask_url(str(self._app.conf.broker_url)),
            "workers": [w.to_json() for w in workers],
            "queues": lengths,
            "totals": {
                "workers": len(workers),
                "slots": sum(w.concurrency or 0 for w in workers),
                "queued": sum(lengths.values()),
                "running": running,
                "reserved": reserved,
            },
            "note": None if workers else "no worker answered",
        }
