"""One execution per trial, however many copies of its message reach the workers.

A trial's message can be published twice under the same task id: a publish
whose reply a Redis restart swallowed is sent again (Redis had stored it), and
a scheduler killed between sending and confirming sends again on resume. So
the scheduler stamps each publish attempt with its own copy id (the message
header :data:`COPY_HEADER`), and the first copy to start claims the task id:
``SET bo-claim-<task id> <copy id> NX``.

A copy that finds the claim held by another copy drops itself without
running. That is safe whatever became of the holder: it finished (its result
is stored), it is running, or its worker died, and then the holder's own
message, unacknowledged until it ends (``task_acks_late``), is redelivered
with the same copy id and takes its claim back. A redelivery of the holder
runs again, as acks-late redelivery always does.
"""

from __future__ import annotations

import logging
from typing import Any

from workers.backend import redis_client, result_lifetime
from workers.protocol import claim_key

logger = logging.getLogger(__name__)


def claim_execution(backend: Any, task_id: str, copy_id: str | None) -> bool:
    """Whether the message copy ``copy_id`` may run ``task_id``: it claimed the task
    now, or claimed it before (this is a redelivery of it). False: another copy has."""
    client = redis_client(backend)
    if client is None or copy_id is None:
        # In-process broker (no duplicate deliveries), or a sender without copy ids.
        return True
    key, lifetime = claim_key(task_id), result_lifetime(backend)
    holder = None
    while holder is None:  # None again only if the claim expired in between
        if client.set(key, copy_id, nx=True, ex=lifetime):
            return True
        holder = client.get(key)
    held_by = holder.decode() if isinstance(holder, bytes) else str(holder)
    if held_by == copy_id:
        return True  # a redelivery of the copy that claimed it: its run did not finish
    logger.warning(
        "task %s: another copy of this trial's message (%s) already ran or is running; "
        "this duplicate (%s) is dropped",
        task_id,
        held_by,
        copy_id,
    )
    return False
