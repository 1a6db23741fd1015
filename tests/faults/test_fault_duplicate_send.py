"""A trial's message published twice still runs its objective once.

Two copies of one trial's message, under one task id, reach the queue when
- a Redis restart swallows the reply to the LPUSH that published it: Redis
  stored the message, the scheduler saw a dropped connection and sent again;
- a scheduler is killed between sending and confirming ("sending" marker) and,
  on resume, finds no worker state for the still-queued task, so sends again.
The workers must run the trial once, whether the second copy arrives after the
first finished (one worker) or while it runs (two workers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scheduler.celery import CeleryRunner
from scheduler.celery.sending import SENDING
from scheduler.core.trial import Trial, TrialStatus
from tests.faults.fault_objectives import branin, executions
from tests.faults.harness import UNACKED_KEY, branin_experiment, fleet, wait_for
from tests.faults.redis_server import RedisServer, redis_server
from tests.faults.reply_cutter import reply_cutter
from workers.app import make_app
from workers.protocol import result_key, sent_marker_key
from workers.settings import ENV_BROKER_URL, ENV_RESULT_BACKEND

pytestmark = pytest.mark.slow

#: `branin`'s arguments; `dict(PARAMETERS)` is the trial's parameterization.
PARAMETERS = {"x1": 1.0, "x2": 2.0}
DROPPED = "this duplicate"  # what a worker logs when it drops a copy (workers.claim)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_send_whose_reply_was_lost_runs_the_trial_once(tmp_path: Path, workers: int) -> None:
    with redis_server() as redis, reply_cutter(redis.port) as proxy:
        # The scheduler publishes through the proxy; results go straight to Redis.
        app = make_app({ENV_BROKER_URL: proxy.url(), ENV_RESULT_BACKEND: redis.url()})
        try:
            runner, trial = new_trial(app, tmp_path)
            proxy.arm(b"LPUSH")
            trial.update_run_metadata(runner.run(trial))
        finally:
            app.close()
        assert proxy.cut.is_set(), "the publish's reply was never cut"
        logs = run_both_copies(redis, runner, trial, tmp_path, workers, "SUCCESS")
    assert_ran_once(trial, tmp_path, logs)
    assert runner.view(trial).result["branin"] == pytest.approx(branin(**PARAMETERS))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_resend_after_a_crash_mid_send_runs_the_trial_once(tmp_path: Path, workers: int) -> None:
    with redis_server() as redis:
        app = make_app({ENV_BROKER_URL: redis.url()})
        try:
            runner, trial = new_trial(app, tmp_path)
            send_twice_as_a_crash_mid_send_does(app, runner, trial, redis)
        finally:
            app.close()
        logs = run_both_copies(redis, runner, trial, tmp_path, workers, "SUCCESS")
    assert_ran_once(trial, tmp_path, logs)
    assert runner.view(trial).result["branin"] == pytest.approx(branin(**PARAMETERS))


def test_a_dropped_copy_leaves_a_failed_trial_failed(tmp_path: Path) -> None:
    # Celery itself would record the dropped copy STARTED, over any result but SUCCESS.
    with redis_server() as redis:
        app = make_app({ENV_BROKER_URL: redis.url()})
        try:
            experiment = branin_experiment(
                "twice", app, tmp_path / "counts", objective="misbehaving"
            )
            runner = experiment.runner
            assert isinstance(runner, CeleryRunner)
            experiment.new_trial(dict(PARAMETERS))  # index 0 succeeds, index 1 raises
            trial = experiment.new_trial(dict(PARAMETERS))
            send_twice_as_a_crash_mid_send_does(app, runner, trial, redis)
        finally:
            app.close()
        logs = run_both_copies(redis, runner, trial, tmp_path, 1, "FAILURE")
    assert_ran_once(trial, tmp_path, logs)


def new_trial(app: Any, tmp_path: Path) -> tuple[CeleryRunner, Trial]:
    experiment = branin_experiment("twice", app, tmp_path / "counts", runtime_seconds=0.5)
    assert isinstance(experiment.runner, CeleryRunner)
    return experiment.runner, experiment.new_trial(dict(PARAMETERS))


def send_twice_as_a_crash_mid_send_does(
    app: Any, runner: CeleryRunner, trial: Trial, redis: RedisServer
) -> None:
    """Send, then resend as a resumed scheduler whose predecessor died before confirming:
    the marker still says "sending" and no worker has the task yet."""
    runner.run(trial)
    redis.client().set(sent_marker_key(runner.task_id(trial)), SENDING + b"dead")
    resumed_runner = CeleryRunner(**runner.serialize_init_args(), app=app)
    metadata = resumed_runner.run(trial)
    assert "reattached" not in metadata
    trial.update_run_metadata(metadata)


def run_both_copies(
    redis: RedisServer,
    runner: CeleryRunner,
    trial: Trial,
    tmp_path: Path,
    workers: int,
    celery_state: str,
) -> str:
    """Start ``workers`` workers on a queue holding two copies; the workers' logs.

    Checks the trial ends as ``celery_state`` says, and stays so once both copies
    have been taken and acknowledged."""
    client = redis.client()
    assert client.llen(runner.send_queue) == 2, "two copies of the trial's message"
    expected = TrialStatus.COMPLETED if celery_state == "SUCCESS" else TrialStatus.FAILED
    with fleet(redis.url(), tmp_path / "logs", count=workers) as (app, fleet_workers):
        runner.app = app

        def ended() -> bool:
            statuses = runner.poll_trial_status([trial])
            return trial.index in statuses.get(expected, set())

        def both_copies_done() -> bool:
            # An empty queue and unacked hash alone is not enough: a message popped
            # by a worker is in neither until kombu records it as delivered.
            dropped = any(DROPPED in w.log() for w in fleet_workers)
            return dropped and client.llen(runner.send_queue) == 0 and client.hlen(UNACKED_KEY) == 0

        wait_for(ended, 60, f"the trial to end {expected.name}")
        wait_for(both_copies_done, 30, "the second copy to be dropped and acknowledged")
        # The dropped copy wrote nothing: the trial's outcome is still the one stored.
        meta = json.loads(client.get(result_key(trial.run_metadata["task_id"])))
        assert meta["status"] == celery_state
        return "".join(w.log() for w in fleet_workers)


def assert_ran_once(trial: Trial, tmp_path: Path, logs: str) -> None:
    assert executions(tmp_path / "counts") == {trial.index: 1}
    assert logs.count(DROPPED) == 1, logs[-3000:]
