"""The send marker's two phases: a scheduler killed between marking and sending.

``CeleryRunner.run`` writes ``sending <token>`` before sending a trial's task
and ``sent`` after. A resumed scheduler re-attaches to a task marked ``sent``,
and to one left ``sending`` that a worker has already taken up (its scheduler
died between the send and the confirmation); it sends one left ``sending``
that no worker knows (its scheduler died before the send went out). So a
crash in that window neither duplicates nor strands the trial.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from scheduler.celery import CeleryRunner
from scheduler.celery.sending import SENDING, SENT
from scheduler.core.trial import Trial
from tests.faults.harness import branin_experiment
from tests.faults.redis_server import redis_server
from workers.app import make_app
from workers.protocol import sent_marker_key

QUEUE = "bo-parked"  # no worker consumes it: the tests count messages sent


class Parked(NamedTuple):
    """Two trials of a runner whose queue no worker consumes, on a private Redis."""

    app: Any
    client: Any
    runner: CeleryRunner
    first: Trial
    second: Trial

    def mark(self, trial: Trial, value: bytes) -> None:
        """Leave the send marker a dead scheduler would have left."""
        self.client.set(sent_marker_key(self.runner.task_id(trial)), value)

    def marker(self, trial: Trial) -> bytes | None:
        return self.client.get(sent_marker_key(self.runner.task_id(trial)))


@pytest.fixture
def parked(tmp_path: Path) -> Iterator[Parked]:
    with redis_server() as redis:
        app = make_app({"BO_BROKER_URL": redis.url()})
        try:
            experiment = branin_experiment("marker", app, tmp_path, queue=QUEUE)
            runner = experiment.runner
            assert isinstance(runner, CeleryRunner)
            first = experiment.new_trial({"x1": 0.0, "x2": 1.0})
            second = experiment.new_trial({"x1": 1.0, "x2": 2.0})
            yield Parked(app, redis.client(), runner, first, second)
        finally:
            app.close()


def test_marker_left_sending_is_sent_and_marker_sent_reattaches(parked: Parked) -> None:
    stranded, done = parked.first, parked.second
    # A dead scheduler marked `stranded` but never sent it; it sent `done`.
    parked.mark(stranded, SENDING + b"dead")
    parked.mark(done, SENT)

    resent = parked.runner.run(stranded)
    reattached = parked.runner.run(done)
    again = parked.runner.run(stranded)  # now confirmed: never sent twice

    assert "reattached" not in resent
    assert reattached.get("reattached") is True and again.get("reattached") is True
    assert parked.client.llen(QUEUE) == 1
    assert parked.marker(stranded) == SENT


def test_marker_left_sending_after_the_send_went_out_reattaches(parked: Parked) -> None:
    ran, queued = parked.first, parked.second
    runner = parked.runner
    # A dead scheduler sent both but confirmed neither; a worker ran `ran`.
    parked.mark(ran, SENDING + b"dead")
    parked.mark(queued, SENDING + b"dead")
    parked.app.backend.store_result(runner.task_id(ran), {"branin": 1.0}, "SUCCESS")

    found = runner.find_sent(ran)
    assert found is not None and found["reattached"] is True
    assert found["task_id"] == runner.task_id(ran)
    assert parked.marker(ran) == SENT
    assert runner.find_sent(queued) is None  # no trace of it: `run` decides
    assert runner.run(ran).get("reattached") is True
    assert parked.client.llen(QUEUE) == 0
