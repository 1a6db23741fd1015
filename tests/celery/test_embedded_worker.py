"""The in-process worker of embedded mode serves every queue its runners send to.

It starts with the first runner's queue (plus the default and every objective's
queue); a second runner of the same app that sends to a queue of its own (a
shared daemon's experiment with `runner.queue`) must get that queue served too,
or its trials wait forever.
"""

from __future__ import annotations

from scheduler.celery.embedded import ensure_embedded_worker, stop_embedded_worker
from workers.app import make_app
from workers.protocol import TASK_NAME, build_request


def _evaluate(app: object, queue: str, index: int) -> dict[str, object]:
    request = build_request(index, "branin", {"x1": 1.0, "x2": 2.0})
    result = app.send_task(TASK_NAME, args=[request], queue=queue)  # type: ignore[attr-defined]
    return dict(result.get(timeout=20))


def test_a_queue_asked_for_after_the_worker_started_is_consumed_too() -> None:
    app = make_app({})
    try:
        first = ensure_embedded_worker(app, concurrency=1)
        assert "branin" in _evaluate(app, "bo-trials", 0)  # the worker runs
        again = ensure_embedded_worker(app, concurrency=1, queue="bo-own-queue")
        assert again is first  # one worker, now consuming one more queue
        assert "branin" in _evaluate(app, "bo-own-queue", 1)
        assert ensure_embedded_worker(app, concurrency=1, queue="bo-own-queue") is first
    finally:
        stop_embedded_worker(app)
        app.close()


def test_a_queue_asked_for_while_the_worker_starts_is_consumed() -> None:
    """No task first: the second call may come before the worker can answer."""
    app = make_app({})
    try:
        ensure_embedded_worker(app, concurrency=1)
        ensure_embedded_worker(app, concurrency=1, queue="bo-early-queue")
        assert "branin" in _evaluate(app, "bo-early-queue", 0)
    finally:
        stop_embedded_worker(app)
        app.close()
