"""Which tasks a Redis broker still holds for a queue: queued, or delivered and unacknowledged.

kombu's Redis transport hands a message to a worker with BRPOP, which takes it
off the queue before the reply reaches the worker. A Redis restart in between
(the pop already in the append-only file) loses the message: it is neither
queued nor in the ``unacked`` hash of delivered messages, and no worker will
ever start it. The runner asks this module about tasks that stayed queued
with no worker state and sends the vanished ones again; the workers run one
copy whatever happens (``workers.claim``).
"""

from __future__ import annotations

import json
from typing import Any


def held_task_ids(app: Any, queue: str) -> set[str] | None:
    """Ids of the tasks whose messages the broker holds for ``queue``, in one round
    trip; None when the broker is not Redis (the in-process one loses nothing)."""
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        unacked_key = getattr(channel, "unacked_key", None)
        if unacked_key is None:
            return None
        # One MULTI reads both at one instant. A message popped by a worker that has
        # not yet recorded it as delivered looks vanished for that instant; sending it
        # again then costs a dropped duplicate (workers.claim), not a second run.
        with channel.client.pipeline(transaction=True) as pipe:
            pipe.lrange(queue, 0, -1)
            pipe.hvals(unacked_key)
            queued, delivered = pipe.execute()
    found = [_task_id(_decode(raw)) for raw in queued]
    found += [_task_id(_first(_decode(raw))) for raw in delivered]  # [message, exchange, key]
    return {task_id for task_id in found if task_id is not None}


def _decode(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None  # not a message (the workers drop such entries)


def _first(entry: Any) -> Any:
    return entry[0] if isinstance(entry, list) and entry else None


def _task_id(message: Any) -> str | None:
    headers = message.get("headers") if isinstance(message, dict) else None
    task_id = headers.get("id") if isinstance(headers, dict) else None
    return task_id if isinstance(task_id, str) else None
