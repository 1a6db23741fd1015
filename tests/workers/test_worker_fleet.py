"""Trials on real Redis and two real prefork worker processes (concurrency 2 each).

Nothing here is eager: every task goes through the broker to a
``celery -A workers.app worker`` subprocess and its result comes back
through the Redis result backend.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult

from tests.support.celery_workers import WorkerFleet
from tests.support.services import PrivateRedis
from workers.errors import (
    InvalidObjectiveResult,
    InvalidTrialRequest,
    ObjectiveFailed,
    ObjectiveParameterError,
    StopTrial,
    UnknownObjectiveError,
)
from workers.progress import request_stop
from workers.protocol import DEFAULT_QUEUE, TASK_NAME, result_key

TIMEOUT = 30.0  # generous upper bound for waits; no test asserts a duration


def send(
    fleet: WorkerFleet,
    objective: str,
    parameters: dict[str, Any],
    options: dict[str, Any] | None = None,
    trial_index: int = 0,
    **send_options: Any,
) -> AsyncResult:
    request: dict[str, Any] = {
        "trial_index": trial_index,
        "objective": objective,
        "parameters": parameters,
    }
    if options is not None:
        request["options"] = options
    return fleet.app.send_task(TASK_NAME, args=[request], **send_options)


def finish(result: AsyncResult) -> AsyncResult:
    result.get(timeout=TIMEOUT, propagate=False)
    return result


def failure_reason(result: AsyncResult) -> str:
    """What the scheduler shows: the last line of the stored traceback."""
    return str(result.traceback).strip().splitlines()[-1]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_builtin_objectives_succeed_with_correct_values(fleet: WorkerFleet) -> None:
    cases = [
        ("branin", {"x1": -math.pi, "x2": 12.275}, 0.397887),
        ("branin", {"x1": 9.42478, "x2": 2.475}, 0.397887),
        (
            "hartmann6",
            dict(
                zip(
                    [f"x{i}" for i in range(1, 7)],
                    (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
                    strict=True,
                )
            ),
            -3.32237,
        ),
        ("ackley", {"x1": 0.0, "x2": 0.0, "x3": 0.0}, 0.0),
        ("rosenbrock", {f"x{i}": 1.0 for i in range(1, 5)}, 0.0),
    ]
    results = [
        send(fleet, name, params, trial_index=i) for i, (name, params, _) in enumerate(cases)
    ]
    noisy = send(fleet, "branin_noisy", {"x1": 0.0, "x2": 0.0}, {"noise_sd": 0.0}, trial_index=9)
    for (name, _, expected), result in zip(cases, results, strict=True):
        value = result.get(timeout=TIMEOUT)
        assert result.state == "SUCCESS"
        assert list(value) == [name]
        assert value[name] == pytest.approx(expected, abs=1e-5)
    assert finish(noisy).state == "SUCCESS"
    assert noisy.result == {"branin": [pytest.approx(55.60211, abs=1e-4), 0.0]}

    # result_extended: the stored entry carries the task name and the trial in its args.
    stored = json.loads(fleet.app.backend.client.get(result_key(results[2].id)))
    assert stored["status"] == "SUCCESS"
    assert stored["name"] == TASK_NAME
    assert stored["args"][0]["trial_index"] == 2
    assert stored["queue"] == DEFAULT_QUEUE
    assert stored["worker"] in fleet.hostnames
    assert set(stored["result"]) == {"hartmann6"}


def test_a_user_module_listed_in_bo_objective_modules_runs(fleet: WorkerFleet) -> None:
    result = send(fleet, "sphere", {"a": 1.0, "b": -2.0})
    assert result.get(timeout=TIMEOUT) == {"sphere": 5.0}
    assert result.state == "SUCCESS"


def test_an_objective_that_raises_fails_the_trial_with_its_message(fleet: WorkerFleet) -> None:
    result = finish(send(fleet, "raises", {"x": 1.5}, trial_index=3))
    assert result.state == "FAILURE"
    assert isinstance(result.result, ObjectiveFailed)
    assert failure_reason(result) == (
        "workers.errors.ObjectiveFailed: trial 3 (objective 'raises') raised "
        "ValueError: simulator crashed at x=1.5"
    )
    assert "ValueError: simulator crashed at x=1.5" in str(result.traceback)  # the cause too


def test_a_nan_result_fails_the_trial_naming_the_metric(fleet: WorkerFleet) -> None:
    result = finish(send(fleet, "returns_nan", {}, trial_index=4))
    assert result.state == "FAILURE"
    assert isinstance(result.result, InvalidObjectiveResult)
    reason = failure_reason(result)
    assert reason.startswith("workers.errors.InvalidObjectiveResult: trial 4")
    assert "metric 'loss' is nan" in reason


def test_unknown_objective_and_bad_requests_fail_with_named_errors(fleet: WorkerFleet) -> None:
    unknown = send(fleet, "no_such_objective", {"x1": 0.0})
    missing = send(fleet, "branin", {"x1": 0.0}, trial_index=5)
    bad_option = send(fleet, "branin", {"x1": 0.0, "x2": 0.0}, {"noise_sd": 1.0})
    malformed = fleet.app.send_task(TASK_NAME, args=[{"objective": "branin", "parameters": {}}])
    assert finish(unknown).state == "FAILURE"
    assert isinstance(unknown.result, UnknownObjectiveError)
    assert "registered objectives: ackley" in failure_reason(unknown)
    assert "sphere" in failure_reason(unknown)  # the user module's names are listed too
    assert finish(missing).state == "FAILURE"
    assert isinstance(missing.result, ObjectiveParameterError)
    assert "missing parameter(s) x2" in failure_reason(missing)
    assert finish(bad_option).state == "FAILURE"
    assert "does not accept option(s) noise_sd" in failure_reason(bad_option)
    assert finish(malformed).state == "FAILURE"
    assert isinstance(malformed.result, InvalidTrialRequest)
    assert "missing trial_index" in failure_reason(malformed)


def test_progress_is_published_whole_and_a_stop_request_stops_the_trial(
    fleet: WorkerFleet, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"
    result = send(fleet, "curve", {}, {"steps": 6, "wait_for": str(go_on)}, trial_index=11)

    def three_points() -> Any:
        meta = fleet.app.backend.get_task_meta(result.id)  # state and info in one read
        info = meta["result"]
        return meta["status"] == "PROGRESS" and len(info["progress"]) == 3 and info

    info = wait_for(three_points, "three progress points")
    assert info["progress"] == [
        {"step": 0, "loss": 1.0},
        {"step": 1, "loss": 0.5},
        {"step": 2, "loss": pytest.approx(1 / 3)},
    ]
    request_stop(fleet.app.backend, result.id)
    go_on.write_text("go")
    finish(result)
    assert result.state == "REVOKED"
    stop = result.result
    assert isinstance(stop, StopTrial)
    # The worker checks for a stop right after publishing each point, so the
    # request lands after step 2 (if it beat that check) or after step 3.
    last = stop.progress[-1]["step"]
    assert last in (2, 3)
    assert f"trial 11 was stopped early at step {last} by the scheduler" == str(stop)
    assert [point["step"] for point in stop.progress] == list(range(last + 1))
    assert (
        "StopTrial"
        in json.loads(fleet.app.backend.client.get(result_key(result.id)))["result"]["exc_type"]
    )


def test_progress_without_a_stop_request_completes(fleet: WorkerFleet) -> None:
    result = send(fleet, "curve", {}, {"steps": 4}, trial_index=12)
    assert result.get(timeout=TIMEOUT) == {"loss": 0.25}
    assert result.state == "SUCCESS"


class _OpensAFileWhenUnpickled:
    """Pickled, it becomes ``open(path, "w")``: a worker that unpickles it creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_a_pickle_message_is_refused_unread_and_runs_nothing(
    fleet: WorkerFleet, redis_db: PrivateRedis, tmp_path: Path
) -> None:
    unpickled = tmp_path / "unpickled"
    ran = tmp_path / "task-ran"
    request = {
        "trial_index": 0,
        "objective": "touch",
        "parameters": {"payload": _OpensAFileWhenUnpickled(unpickled)},
        "options": {"path": str(ran)},
    }
    result = fleet.app.send_task(TASK_NAME, args=[request], serializer="pickle")
    wait_for(
        lambda: "Refusing to deserialize untrusted content of type pickle" in fleet.logs(),
        "a worker to refuse the pickle message",
    )
    client = redis_db.client()
    wait_for(lambda: client.llen(DEFAULT_QUEUE) == 0, "the queue to drain")
    wait_for(
        lambda: not any(result.id in str(v) for v in client.hvals("unacked")),
        "the refused message to leave the unacked set",
    )
    # The workers are still healthy and run the next (JSON) trial.
    after = send(fleet, "touch", {}, {"path": str(tmp_path / "json-ran")})
    assert after.get(timeout=TIMEOUT) == {"touched": 1.0}
    assert not unpickled.exists(), "a worker unpickled the message"
    assert not ran.exists(), "the refused task ran"
    assert result.state == "PENDING"  # nothing was ever stored for it
    assert client.get(result_key(result.id)) is None


def test_a_killed_pool_child_gets_its_trial_redelivered(fleet: WorkerFleet, tmp_path: Path) -> None:
    """acks_late + reject_on_worker_lost: the message is requeued and runs again.

    Measured with Celery 5.7: the worker's main process sees WorkerLostError,
    rejects the message with requeue, another pool process takes it, and the
    second attempt's SUCCESS replaces the first attempt's STARTED.
    """
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    result = send(fleet, "killable", {}, {"attempts_dir": str(attempts)}, trial_index=7)
    first = wait_for(lambda: (attempts / "attempt-1.pid").exists(), "the first attempt")
    assert first
    wait_for(lambda: result.state == "STARTED", "the STARTED state")
    pid = int((attempts / "attempt-1.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    assert result.get(timeout=TIMEOUT) == {"attempts": 2.0}
    assert result.state == "SUCCESS"
    assert sorted(p.name for p in attempts.iterdir()) == ["attempt-1.pid", "attempt-2.pid"]
    assert int((attempts / "attempt-2.pid").read_text()) != pid
    assert "WorkerLostError" in fleet.logs()
