"""Worker settings from the environment: the soft time limit, and refusing to start.

Also the embedded mode: an in-process worker on kombu's memory transport.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from tests.support.celery_workers import (
    WorkerFleet,
    WorkerStartError,
    celery_workers,
    fleet_fixture,
)
from tests.support.services import PrivateRedis
from workers.app import load_objective_modules, make_app
from workers.errors import TrialTimeLimitExceeded
from workers.protocol import TASK_NAME
from workers.settings import ENV_TRIAL_SOFT_TIME_LIMIT

HERE = Path(__file__).resolve().parent
TIMEOUT = 30.0


impatient_fleet = fleet_fixture(
    ["bo_test_objectives"],
    pythonpath=[HERE],
    count=1,
    concurrency=1,
    extra_env={ENV_TRIAL_SOFT_TIME_LIMIT: "1"},
    log_folder="impatient-logs",
    name="impatient_fleet",
    doc="One worker whose trials may run for 1 s.",
)


def test_a_hung_objective_fails_with_the_soft_time_limit(
    impatient_fleet: WorkerFleet, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    result = impatient_fleet.app.send_task(
        TASK_NAME,
        args=[
            {
                "trial_index": 21,
                "objective": "hangs",
                "parameters": {},
                "options": {"started": str(started)},
            }
        ],
    )
    result.get(timeout=TIMEOUT, propagate=False)
    assert started.exists()
    assert result.state == "FAILURE"
    assert isinstance(result.result, TrialTimeLimitExceeded)
    reason = str(result.traceback).strip().splitlines()[-1]
    assert reason == (
        "workers.errors.TrialTimeLimitExceeded: trial 21 (objective 'hangs') exceeded the soft "
        "time limit of 1 s; raise BO_TRIAL_SOFT_TIME_LIMIT on the workers or make the objective "
        "faster"
    )
    # The pool process survived (soft limit, not the hard kill) and takes the next trial.
    after = impatient_fleet.app.send_task(
        TASK_NAME, args=[{"trial_index": 22, "objective": "sphere", "parameters": {"x": 3}}]
    )
    assert after.get(timeout=TIMEOUT) == {"sphere": 9.0}


def test_a_worker_refuses_to_start_when_an_objective_module_is_missing(
    redis_db: PrivateRedis, tmp_path: Path
) -> None:
    with (
        pytest.raises(WorkerStartError) as error,
        celery_workers(
            redis_db.url,
            count=1,
            concurrency=1,
            objective_modules=["bo_test_objectives", "bo_no_such_module"],
            pythonpath=[HERE],
            log_dir=tmp_path,
            startup_timeout=TIMEOUT,
        ),
    ):
        pytest.fail("the worker started")
    message = str(error.value)
    assert "exited with code 1" in message
    assert "could not import objective module 'bo_no_such_module'" in message


def test_a_worker_refuses_to_start_with_a_bad_setting(
    redis_db: PrivateRedis, tmp_path: Path
) -> None:
    with (
        pytest.raises(WorkerStartError) as error,
        celery_workers(
            redis_db.url,
            count=1,
            extra_env={"BO_TRIAL_SOFT_TIME_LIMIT": "3600", "BO_VISIBILITY_TIMEOUT": "600"},
            log_dir=tmp_path,
            startup_timeout=TIMEOUT,
        ),
    ):
        pytest.fail("the worker started")
    assert "WorkerConfigError: BO_VISIBILITY_TIMEOUT=600 must be longer" in str(error.value)


def test_embedded_mode_runs_trials_in_process() -> None:
    """Nothing configured: memory broker, in-process cache backend, a thread worker."""
    app = make_app({})
    assert app.conf.broker_url == "memory://"
    load_objective_modules({})
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            result = app.send_task(
                TASK_NAME,
                args=[
                    {"trial_index": 0, "objective": "rosenbrock", "parameters": {"x1": 1, "x2": 1}}
                ],
            )
            assert result.get(timeout=TIMEOUT, interval=0.01) == {"rosenbrock": 0.0}
            assert result.state == "SUCCESS"
            failed = app.send_task(
                TASK_NAME, args=[{"trial_index": 1, "objective": "nope", "parameters": {}}]
            )
            failed.get(timeout=TIMEOUT, interval=0.01, propagate=False)
            assert failed.state == "FAILURE"
            assert "unknown objective 'nope'" in str(failed.traceback)
    finally:
        app.close()
