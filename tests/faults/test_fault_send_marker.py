"""The send marker's two phases: a scheduler killed between marking and sending.

``CeleryRunner.run`` writes ``sending <token>`` before sending a trial's task
and ``sent`` after. A resumed scheduler re-attaches to a task marked ``sent``,
and to one left ``sending`` that a worker has already taken up (its scheduler
died between the send and the confirmation); it sends one left ``sending``
that no worker knows (its scheduler died before the send went out). So a
crash in that window neither duplicates nor strands the trial.
"""

from __future__ import annotations

from pathlib import Path

from scheduler.celery_runner import SENDING, SENT, CeleryRunner
from scheduler.result_store import sent_marker_key
from tests.faults.harness import branin_experiment
from tests.faults.redis_server import redis_server
from workers.app import make_app

QUEUE = "bo-parked"  # no worker consumes it: the test counts messages sent


def test_marker_left_sending_is_sent_and_marker_sent_reattaches(tmp_path: Path) -> None:
    with redis_server() as redis:
        app = make_app({"BO_BROKER_URL": redis.url()})
        client = redis.client()
        try:
            experiment = branin_experiment("marker", app, tmp_path, queue=QUEUE)
            runner = experiment.runner
            assert isinstance(runner, CeleryRunner)
            stranded, done = (
                experiment.new_trial({"x1": 0.0, "x2": 1.0}),
                experiment.new_trial({"x1": 1.0, "x2": 2.0}),
            )
            # A dead scheduler marked `stranded` but never sent it; it sent `done`.
            client.set(sent_marker_key(runner.task_id(stranded)), SENDING + b"dead")
            client.set(sent_marker_key(runner.task_id(done)), SENT)

            resent = runner.run(stranded)
            reattached = runner.run(done)
            again = runner.run(stranded)  # now confirmed: never sent twice

            assert "reattached" not in resent
            assert reattached.get("reattached") is True and again.get("reattached") is True
            assert client.llen(QUEUE) == 1
            assert client.get(sent_marker_key(runner.task_id(stranded))) == SENT
        finally:
            app.close()


def test_marker_left_sending_after_the_send_went_out_reattaches(tmp_path: Path) -> None:
    with redis_server() as redis:
        app = make_app({"BO_BROKER_URL": redis.url()})
        client = redis.client()
        try:
            experiment = branin_experiment("marker-ran", app, tmp_path, queue=QUEUE)
            runner = experiment.runner
            assert isinstance(runner, CeleryRunner)
            ran, queued = (
                experiment.new_trial({"x1": 0.0, "x2": 1.0}),
                experiment.new_trial({"x1": 1.0, "x2": 2.0}),
            )
            # A dead scheduler sent both but confirmed neither; a worker ran `ran`.
            for trial in (ran, queued):
                client.set(sent_marker_key(runner.task_id(trial)), SENDING + b"dead")
            app.backend.store_result(runner.task_id(ran), {"branin": 1.0}, "SUCCESS")

            found = runner.find_sent(ran)
            assert found is not None and found["reattached"] is True
            assert found["task_id"] == runner.task_id(ran)
            assert client.get(sent_marker_key(runner.task_id(ran))) == SENT
            assert runner.find_sent(queued) is None  # no trace of it: `run` decides
            assert runner.run(ran).get("reattached") is True
            assert client.llen(QUEUE) == 0
        finally:
            app.close()
