"""The hard time limit on a real worker, and a bad setting refused in one line.

A trial that ignores its soft limit is killed by the pool at the hard limit:
it must fail with a reason naming the trial, the limit and the fix (not
Celery's bare ``TimeLimitExceeded(6,)``), and it must never run again, even
when a copy of its message reaches a worker after the kill (what a
visibility timeout just above the limit used to cause).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.celery.task_states import failure_reason
from tests.support.celery_workers import REPO_ROOT, WorkerFleet, celery_workers, worker_env
from tests.support.services import PrivateRedis
from workers.protocol import COPY_HEADER, DEFAULT_QUEUE, TASK_NAME, build_request, result_key
from workers.settings import hard_time_limit

HERE = Path(__file__).resolve().parent
SOFT_LIMIT = 1
HARD_LIMIT = hard_time_limit(SOFT_LIMIT)


@pytest.fixture(scope="module")
def limited(
    redis_db: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerFleet]:
    """One worker, one pool process, a 1 s soft limit, the shortest visibility timeout allowed."""
    env = {"BO_TRIAL_SOFT_TIME_LIMIT": str(SOFT_LIMIT), "BO_VISIBILITY_TIMEOUT": "7"}
    with celery_workers(
        redis_db.url,
        count=1,
        concurrency=1,
        objective_modules=["bo_test_objectives"],
        pythonpath=[HERE],
        extra_env=env,
        log_dir=tmp_path_factory.mktemp("limited"),
        name="limited",
    ) as running:
        yield running


def _stored(fleet: WorkerFleet, task_id: str) -> dict[str, object]:
    """The task's meta as stored now (the backend's own reads cache a final state)."""
    return dict(json.loads(fleet.app.backend.client.get(result_key(task_id))))


def _send(fleet: WorkerFleet, task_id: str, copy_id: str, request: dict[str, object]) -> None:
    fleet.app.send_task(
        TASK_NAME,
        args=[request],
        task_id=task_id,
        queue=DEFAULT_QUEUE,
        headers={COPY_HEADER: copy_id},
        retry=False,
    )


def test_a_hard_limit_kill_is_named_and_the_trial_never_runs_again(
    limited: WorkerFleet, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    task_id, copy_id = str(uuid.uuid4()), uuid.uuid4().hex
    request = build_request(5, "stubborn", {}, {"runs_dir": str(runs)})
    _send(limited, task_id, copy_id, request)
    result = limited.app.AsyncResult(task_id)
    result.get(timeout=120, propagate=False)
    assert result.state == "FAILURE"
    reason = failure_reason(_stored(limited, task_id))
    assert "TrialTimeLimitExceeded: trial 5 (objective 'stubborn') was killed" in reason
    assert f"hard time limit of {HARD_LIMIT} s" in reason
    assert "raise BO_TRIAL_SOFT_TIME_LIMIT on the workers" in reason

    # The same copy delivered again after the kill (as a redelivery would be),
    # then a marker trial behind it on the one pool process: once the marker
    # has run, the copy has been handled, and it must not have run the trial.
    _send(limited, task_id, copy_id, request)
    marker = str(uuid.uuid4())
    _send(
        limited,
        marker,
        uuid.uuid4().hex,
        build_request(6, "touch", {}, {"path": str(tmp_path / "m")}),
    )
    limited.app.AsyncResult(marker).get(timeout=60)
    assert len(list(runs.iterdir())) == 1
    assert failure_reason(_stored(limited, task_id)) == reason
    assert f"task {task_id} already ended FAILURE; this duplicate copy is dropped unrun" in (
        limited.logs()
    )


def _one_line_refusal(command: list[str], tmp_path: Path) -> str:
    env = worker_env("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15")
    env["BO_VISIBILITY_TIMEOUT"] = "10"
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "celery", "-A", "workers.app", "worker"],
        [sys.executable, "-m", "scheduler.ops.cli.main", "worker", "--objectives", "x"],
    ],
    ids=["celery-worker", "bo-scheduler-worker"],
)
def test_a_worker_refuses_a_bad_setting_in_one_line(command: list[str], tmp_path: Path) -> None:
    line = _one_line_refusal(command, tmp_path)
    assert (
        "WorkerConfigError: BO_VISIBILITY_TIMEOUT=10 must be longer than the hard time limit"
        in line
    )
    assert "BO_VISIBILITY_TIMEOUT=" in line and "or more" in line
    assert str(REPO_ROOT) not in line  # no traceback frames
