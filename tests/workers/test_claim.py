"""The claim that lets one copy of a trial's message run: first copy wins, keeps it."""

from __future__ import annotations

import uuid
from typing import Any

from workers.app import make_app
from workers.claim import claim_execution
from workers.protocol import claim_key
from workers.settings import ENV_BROKER_URL


def test_first_copy_claims_the_task_and_its_redelivery_keeps_it(redis_db: Any) -> None:
    app = make_app({ENV_BROKER_URL: redis_db.url})
    try:
        task_id = uuid.uuid4().hex
        assert claim_execution(app.backend, task_id, "copy-a")
        assert not claim_execution(app.backend, task_id, "copy-b")  # a duplicate
        assert claim_execution(app.backend, task_id, "copy-a")  # copy-a redelivered
        client = redis_db.client()
        assert client.get(claim_key(task_id)) == b"copy-a"
        # Kept as long as the task's result, then gone with it.
        assert 0 < client.ttl(claim_key(task_id)) <= app.backend.expires
    finally:
        app.close()


def test_messages_without_a_copy_id_and_the_embedded_backend_always_run(redis_db: Any) -> None:
    app = make_app({ENV_BROKER_URL: redis_db.url})
    embedded = make_app({})
    try:
        task_id = uuid.uuid4().hex
        assert claim_execution(app.backend, task_id, None)  # sent by an older scheduler
        assert redis_db.client().get(claim_key(task_id)) is None
        assert claim_execution(embedded.backend, task_id, "copy-a")
        assert claim_execution(embedded.backend, task_id, "copy-b")  # in-process: no duplicates
    finally:
        app.close()
        embedded.close()
