"""One-round-trip reads of Celery's result backend, plus the runner's send markers.

Polling asks for every outstanding task's `celery-task-meta-<id>` key, its
send marker *and* the curve a finished task left in a single MGET (Redis) or
`get_multi` (in-process cache), never one request per trial, and holds no
`AsyncResult` objects (celery#6772).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from workers.backend import redis_client, result_lifetime
from workers.protocol import curve_key, sent_marker_key


class TaskRecord(NamedTuple):
    """What the result backend holds about one task."""

    meta: dict[str, Any] | None  # Celery's state and result, decoded
    sent: bool  # the runner's send marker is there
    curve: list[dict[str, Any]] | None  # the whole curve a finished task left


class ResultStore:
    """Reads task metas and writes send markers through a key-value result backend."""

    def __init__(self, backend: Any) -> None:
        if not callable(getattr(backend, "mget", None)):
            raise TypeError(
                f"result backend {type(backend).__name__} cannot be polled in one round "
                "trip; use a Redis result backend (BO_RESULT_BACKEND=redis://...)."
            )
        self.backend = backend

    def read(self, task_ids: Sequence[str]) -> list[tuple[dict[str, Any] | None, bool]]:
        """(decoded meta or None, send marker present) for each task id, in order."""
        return [(r.meta, r.sent) for r in self._read(task_ids, with_curves=False)]

    def read_records(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        """Meta, send marker and left curve of each task id, in order: what a poll needs."""
        return self._read(task_ids, with_curves=True)

    def _read(self, task_ids: Sequence[str], with_curves: bool) -> list[TaskRecord]:
        if not task_ids:
            return []
        keys = [self.backend.get_key_for_task(t) for t in task_ids]
        keys += [sent_marker_key(t) for t in task_ids]
        if with_curves:
            keys += [curve_key(t) for t in task_ids]
        raw = self.backend.mget(keys)
        # The cache backend answers with a mapping, Redis with a list.
        values = [raw.get(k) for k in keys] if isinstance(raw, dict) else list(raw)
        n = len(task_ids)
        return [
            TaskRecord(
                self._decode(values[i]),
                values[n + i] is not None,
                _decode_curve(values[2 * n + i]) if with_curves else None,
            )
            for i in range(n)
        ]

    def read_one(self, task_id: str) -> dict[str, Any] | None:
        return self.read([task_id])[0][0]

    def _decode(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            meta = self.backend.decode_result(value)
        except Exception:  # an exception type we cannot rebuild: keep the raw meta
            try:
                meta = self.backend.decode(value)
            except Exception as exc:  # not JSON (e.g. pickle): never deserialize it
                return {
                    "status": "FAILURE",
                    "result": {
                        "exc_type": "UnreadableResult",
                        "exc_message": f"the stored task result is not JSON ({exc}); "
                        "only JSON results are accepted",
                    },
                }
        return meta if isinstance(meta, dict) else None

    def mark_sent(self, task_id: str, value: bytes = b"1") -> bool:
        """Record that `task_id` is being sent; False if it already was (re-attach)."""
        key = sent_marker_key(task_id)
        redis = redis_client(self.backend)
        if redis is not None:
            return bool(redis.set(key, value, nx=True, ex=result_lifetime(self.backend)))
        if self.backend.get(key) is not None:
            return False
        self.backend.set(key, value)
        return True

    def set_marker(self, task_id: str, value: bytes) -> None:
        """Overwrite the send marker of `task_id` (same lifetime as results)."""
        key = sent_marker_key(task_id)
        redis = redis_client(self.backend)
        if redis is not None:
            redis.set(key, value, ex=result_lifetime(self.backend))
        else:
            self.backend.set(key, value)

    def marker(self, task_id: str) -> bytes | None:
        """The value `mark_sent` stored for `task_id`, or None."""
        value = self.backend.get(sent_marker_key(task_id))
        return value.encode() if isinstance(value, str) else value

    def unmark_sent(self, task_id: str) -> None:
        self.backend.delete(sent_marker_key(task_id))


def _decode_curve(value: Any) -> list[dict[str, Any]] | None:
    """A stored curve, or None when absent or not a JSON list of points."""
    if value is None:
        return None
    try:
        curve = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(curve, list) or not all(isinstance(p, dict) for p in curve):
        return None
    return curve
