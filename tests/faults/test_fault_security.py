"""Security: JSON only on both sides, registered objectives only, password and TLS URLs.

A password in a broker URL must never reach a log: the scheduler's, the
workers' or Redis's own.
"""

from __future__ import annotations

import logging
import pickle
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from scheduler import Scheduler, TrialStatus
from scheduler.celery import CeleryRunner
from scheduler.celery.results import ResultStore
from tests.faults.fault_objectives import executions
from tests.faults.harness import branin_experiment, fast_options, fleet, sobol, sqlite_settings
from tests.faults.redis_server import RedisServer, redis_server
from tests.faults.scenarios import OpensAFileWhenUnpickled
from workers.app import make_app
from workers.errors import UnknownObjectiveError
from workers.objectives import get_objective
from workers.settings import build_config

JSON_ONLY = {
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
}


def _serialization(conf: Any) -> dict[str, Any]:
    return {key: conf[key] for key in JSON_ONLY}


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"BO_BROKER_URL": "redis://:pw@127.0.0.1:6390/0"},
        {"BO_BROKER_URL": "rediss://:pw@127.0.0.1:6390/0?ssl_cert_reqs=required"},
    ],
    ids=["embedded", "redis", "rediss"],
)
def test_worker_and_scheduler_apps_accept_json_only(environ: dict[str, str]) -> None:
    worker_app = make_app(environ)
    assert _serialization(worker_app.conf) == JSON_ONLY
    # The scheduler sends with the runner's app: the same configuration, same refusal.
    runner = CeleryRunner("branin", app=make_app(environ))
    assert _serialization(runner.app.conf) == JSON_ONLY
    # The environment cannot switch a serializer on (Celery's own names are not read).
    hostile = {**environ, "CELERY_ACCEPT_CONTENT": "pickle", "CELERY_TASK_SERIALIZER": "pickle"}
    assert {k: build_config(hostile)[k] for k in JSON_ONLY} == JSON_ONLY


def test_default_scheduler_app_accepts_json_only() -> None:
    from workers.app import app

    assert _serialization(CeleryRunner("branin").app.conf) == JSON_ONLY
    assert CeleryRunner("branin").app is app


def test_only_registered_objectives_are_looked_up_never_imported() -> None:
    module = f"bo_never_imported_{uuid.uuid4().hex[:8]}"
    with pytest.raises(UnknownObjectiveError, match="unknown objective"):
        get_objective(f"{module}.run")
    with pytest.raises(UnknownObjectiveError):
        get_objective("os.system")
    assert module not in sys.modules


def test_a_pickled_result_is_refused_by_the_scheduler_and_fails_the_trial(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "unpickled"
    with redis_server() as redis:
        app = make_app({"BO_BROKER_URL": redis.url()})
        try:
            experiment = branin_experiment("pickled-result", app, tmp_path / "counts")
            runner = experiment.runner
            assert isinstance(runner, CeleryRunner)
            trial = experiment.new_trial({"x1": 1.0, "x2": 2.0})
            task_id = runner.task_id(trial)
            trial.update_run_metadata({"task_id": task_id})
            trial.mark_staged()
            ResultStore(app.backend).mark_sent(task_id)
            meta = {"status": "SUCCESS", "result": {"branin": OpensAFileWhenUnpickled(marker)}}
            redis.client().set(app.backend.get_key_for_task(task_id), pickle.dumps(meta))
            statuses = runner.poll_trial_status([trial])
        finally:
            app.close()
    assert not marker.exists(), "the scheduler unpickled a result"
    assert statuses == {TrialStatus.FAILED: {trial.index}}
    assert "not JSON" in (runner.failure_reason(trial) or "")


def _run_four_trials(server: RedisServer, workdir: Path, url: str) -> tuple[str, Any]:
    """Four trials through ``url`` with one real worker; returns the worker log and experiment."""
    with fleet(url, workdir / "logs", count=1, concurrency=2) as (app, workers):
        experiment = branin_experiment("secured", app, workdir / "counts", runtime_seconds=0.1)
        scheduler = Scheduler(experiment, sobol(), fast_options(), sqlite_settings(workdir))
        scheduler.run_n_trials(max_trials=4, timeout_hours=0.02)
        log = workers[0].log()
    return log, experiment


def test_password_url_runs_trials_and_the_password_is_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    caplog.set_level(logging.DEBUG)
    with redis_server(password=password) as server:
        url = server.url()
        assert password in url
        worker_log, experiment = _run_four_trials(server, tmp_path, url)
        redis_log = server.log()
    assert [t.status for t in experiment.trials.values()] == [TrialStatus.COMPLETED] * 4
    assert executions(tmp_path / "counts") == {0: 1, 1: 1, 2: 1, 3: 1}
    assert "Connected to" in worker_log  # the worker logged its broker URL...
    for name, text in [("scheduler", caplog.text), ("worker", worker_log), ("redis", redis_log)]:
        assert password not in text, f"the password appears in the {name} log"  # ...masked


def test_a_wrong_password_is_refused(tmp_path: Path) -> None:
    with redis_server(password="right-one") as server:
        wrong = make_app({"BO_BROKER_URL": server.url().replace("right-one", "wrong-one")})
        try:
            with pytest.raises(Exception, match=r"(?i)auth|password|WRONGPASS"):
                wrong.backend.client.ping()
        finally:
            wrong.close()


def test_tls_url_runs_trials_verifying_the_server_certificate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password = f"tls-{secrets.token_hex(8)}"
    caplog.set_level(logging.DEBUG)
    with redis_server(password=password, tls=True) as server:
        url = server.url()
        assert url.startswith("rediss://") and "ssl_cert_reqs=required" in url
        worker_log, experiment = _run_four_trials(server, tmp_path, url)
        # Without the CA, the certificate cannot be verified: no connection.
        unverified = make_app({"BO_BROKER_URL": url.split("&ssl_ca_certs=")[0]})
        try:
            with pytest.raises(Exception, match=r"(?i)certificate|ssl"):
                unverified.backend.client.ping()
        finally:
            unverified.close()
    assert [t.status for t in experiment.trials.values()] == [TrialStatus.COMPLETED] * 4
    assert password not in caplog.text and password not in worker_log
