"""A trial's message lost on its way to a worker is found missing and sent again.

kombu hands a message to a worker with BRPOP, which takes it off the queue
before the reply reaches the worker. A Redis restart that swallows that reply
loses the message: not queued, not delivered, never started. The runner looks,
at most every ``vanished_check_seconds``, for the messages of tasks sent that
long ago that no worker has started, and sends the missing ones again.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from scheduler.celery import CeleryRunner
from scheduler.core.trial import TrialStatus
from tests.faults.fault_objectives import executions
from tests.faults.harness import (
    UNACKED_KEY,
    branin_experiment,
    start_worker,
    wait_for,
    wait_until_ready,
)
from tests.faults.redis_server import redis_server
from tests.faults.reply_cutter import reply_cutter
from tests.support.celery_workers import stop_workers
from workers.app import make_app
from workers.settings import ENV_BROKER_URL, ENV_RESULT_BACKEND

pytestmark = pytest.mark.slow

CHECK_SECONDS = 0.5


def test_a_message_lost_on_its_way_to_a_worker_is_sent_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    count_dir = tmp_path / "counts"
    with redis_server() as redis, reply_cutter(redis.port) as proxy:
        app = make_app({ENV_BROKER_URL: redis.url()})
        # The worker takes its messages through the proxy; results go straight to Redis.
        worker = start_worker(
            proxy.url(), tmp_path / "logs", "w0", {ENV_RESULT_BACKEND: redis.url()}
        )
        try:
            wait_until_ready(app, [worker])
            experiment = branin_experiment(
                "vanished",
                app,
                count_dir,
                runtime_seconds=0.2,
                vanished_check_seconds=CHECK_SECONDS,
            )
            runner = experiment.runner
            assert isinstance(runner, CeleryRunner)
            trial = experiment.new_trial({"x1": 1.0, "x2": 2.0})
            proxy.arm_reply(runner.task_id(trial).encode())  # the BRPOP handing it out
            trial.update_run_metadata(runner.run(trial))
            wait_for(proxy.cut.is_set, 30, "the worker's BRPOP reply to be cut")
            client = redis.client()
            assert client.llen(runner.send_queue) == 0 and client.hlen(UNACKED_KEY) == 0, "lost"

            def completed() -> bool:
                statuses = runner.poll_trial_status([trial])
                return trial.index in statuses.get(TrialStatus.COMPLETED, set())

            with caplog.at_level(logging.WARNING, logger="scheduler.celery.runner"):
                wait_for(completed, 60, "the lost trial to be sent again and complete")
        finally:
            stop_workers([worker.process], timeout=5)
            app.close()
    assert executions(count_dir) == {trial.index: 1}
    assert "the broker lost task" in caplog.text


def test_queued_and_delivered_messages_are_not_sent_again(tmp_path: Path) -> None:
    with redis_server() as redis:
        app = make_app({ENV_BROKER_URL: redis.url()})
        try:
            experiment = branin_experiment(
                "parked", app, tmp_path, queue="bo-parked", vanished_check_seconds=CHECK_SECONDS
            )
            runner = experiment.runner
            assert isinstance(runner, CeleryRunner)
            trials = [experiment.new_trial({"x1": float(i), "x2": 1.0}) for i in range(2)]
            for trial in trials:
                trial.update_run_metadata(runner.run(trial))
            client = redis.client()
            # Deliver one as kombu does: off the queue, into the unacked hash.
            message = client.rpop("bo-parked")
            client.hset(
                UNACKED_KEY, "tag-1", json.dumps([json.loads(message), "bo-parked", "bo-parked"])
            )

            time.sleep(CHECK_SECONDS * 1.5)
            runner.poll_trial_status(trials)
            assert (client.llen("bo-parked"), client.hlen(UNACKED_KEY)) == (1, 1)  # none resent

            client.delete("bo-parked", UNACKED_KEY)  # both lost
            time.sleep(CHECK_SECONDS * 1.5)
            runner.poll_trial_status(trials)
            resent = [json.loads(raw)["headers"]["id"] for raw in client.lrange("bo-parked", 0, -1)]
            assert sorted(resent) == sorted(runner.task_id(t) for t in trials)
        finally:
            app.close()
