"""Real Flower on the workers' app: its Broker page and /api/queues/length work.

Flower only knows ``redis://`` brokers; the hardened transport used to be
selected with ``broker_transport``, which made the broker URL Flower reads
``workers.broker:Transport://...`` and both answer 404 "'redis' broker is not
supported". Three trials wait on the default queue (no worker runs here), so
Flower must show ``bo-trials`` with length 3.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.celery_workers import stop_workers, worker_env
from tests.support.services import PrivateRedis
from workers.app import make_app
from workers.protocol import COPY_HEADER, DEFAULT_QUEUE, TASK_NAME, build_request

WAITING = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def flower(redis_db: PrivateRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Flower (`celery -A workers.app flower`) on a free port, with trials waiting."""
    client = make_app({"BO_BROKER_URL": redis_db.url})
    for index in range(WAITING):
        client.send_task(
            TASK_NAME,
            args=[build_request(index, "branin", {"x1": 0.0, "x2": 0.0})],
            task_id=str(uuid.uuid4()),
            queue=DEFAULT_QUEUE,
            headers={COPY_HEADER: uuid.uuid4().hex},
        )
    client.close()
    port = _free_port()
    env = worker_env(redis_db.url, redis_db.url, {"FLOWER_UNAUTHENTICATED_API": "true"})
    workdir: Path = tmp_path_factory.mktemp("flower")
    log = (workdir / "flower.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
            "--unix_socket=",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                break
            try:
                if _get(f"{base}/healthcheck")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert process.poll() is None, (workdir / "flower.log").read_text()
        yield base
    finally:
        stop_workers([process])
        log.close()


def _queues(base: str) -> dict[str, Any]:
    status, body = _get(f"{base}/api/queues/length")
    assert status == 200, body
    return {q["name"]: q["messages"] for q in json.loads(body)["active_queues"]}


def test_queue_lengths_api_shows_the_waiting_trials(flower: str) -> None:
    assert _queues(flower) == {DEFAULT_QUEUE: WAITING}


def test_the_broker_page_shows_a_redis_broker_and_its_queue(flower: str) -> None:
    status, page = _get(f"{flower}/broker")
    assert status == 200, page[:500]
    assert "redis://" in page
    assert "workers.broker" not in page
    assert DEFAULT_QUEUE in page
