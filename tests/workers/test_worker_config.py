"""build_config: defaults, overrides, refusals, and URLs that Celery must parse."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.support.services import service_unavailable
from workers.app import make_app
from workers.errors import WorkerConfigError
from workers.protocol import DEFAULT_QUEUE
from workers.settings import (
    DEFAULT_RESULT_EXPIRES,
    DEFAULT_TRIAL_SOFT_TIME_LIMIT,
    DEFAULT_VISIBILITY_TIMEOUT,
    build_config,
    hard_time_limit,
    visibility_margin,
)

REDIS = "redis://127.0.0.1:6379/3"


def celery_from(environ: dict[str, str]) -> Celery:
    """A throwaway app built from ``environ``, to see what Celery makes of the config."""
    app = Celery("bo-config-test")
    app.conf.update(build_config(environ))
    return app


SAFE_DEFAULTS = {
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_track_started": False,  # the task stores STARTED after claiming (workers.claim)
    "result_extended": True,
    "worker_send_task_events": True,
    "task_send_sent_event": True,
    "broker_connection_retry_on_startup": True,
    "worker_cancel_long_running_tasks_on_connection_loss": True,
    "task_default_queue": DEFAULT_QUEUE,
}


def test_nothing_set_means_embedded() -> None:
    config = build_config({})
    assert config["broker_url"] == "memory://"
    assert config["result_backend"] == "cache+memory://"
    assert config["broker_transport_options"] == {"polling_interval": 0.005}
    assert config.items() >= SAFE_DEFAULTS.items()
    assert config["result_expires"] == DEFAULT_RESULT_EXPIRES >= 7 * 24 * 3600
    assert config["task_soft_time_limit"] == DEFAULT_TRIAL_SOFT_TIME_LIMIT
    assert config["task_time_limit"] > config["task_soft_time_limit"]
    assert "workers.tasks" in config["include"]


def test_redis_broker_gets_safe_defaults_and_a_long_visibility_timeout() -> None:
    config = build_config({"BO_BROKER_URL": REDIS})
    assert config["broker_url"] == REDIS
    assert config["result_backend"] == REDIS  # backend defaults to the broker's Redis
    assert config.items() >= SAFE_DEFAULTS.items()
    visibility = config["broker_transport_options"]["visibility_timeout"]
    assert visibility == DEFAULT_VISIBILITY_TIMEOUT > config["task_time_limit"]
    assert "broker_use_ssl" not in config


def test_environment_overrides() -> None:
    config = build_config(
        {
            "BO_BROKER_URL": REDIS,
            "BO_RESULT_BACKEND": "redis://127.0.0.1:6379/4",
            "BO_TRIAL_SOFT_TIME_LIMIT": "600",
            "BO_VISIBILITY_TIMEOUT": "7200",
            "BO_RESULT_EXPIRES": "1209600",
            "CELERY_WORKER_CONCURRENCY": "8",
            "CELERY_WORKER_MAX_TASKS_PER_CHILD": "100",
            "CELERY_RESULT_BACKEND_ALWAYS_RETRY": "true",
            "CELERY_BROKER_CONNECTION_TIMEOUT": "2.5",
        }
    )
    assert config["result_backend"] == "redis://127.0.0.1:6379/4"
    assert config["task_soft_time_limit"] == 600
    assert config["task_time_limit"] == hard_time_limit(600) > 600
    assert config["broker_transport_options"] == {"visibility_timeout": 7200}
    assert config["result_expires"] == 1209600
    assert config["worker_concurrency"] == 8
    assert config["worker_max_tasks_per_child"] == 100
    assert config["result_backend_always_retry"] is True
    assert config["broker_connection_timeout"] == 2.5


def test_celery_own_url_variables_are_honoured_and_must_agree() -> None:
    config = build_config({"CELERY_BROKER_URL": REDIS})
    assert config["broker_url"] == REDIS
    assert config["result_backend"] == REDIS
    assert build_config({"BO_BROKER_URL": REDIS, "CELERY_BROKER_URL": REDIS})["broker_url"] == REDIS
    with pytest.raises(WorkerConfigError, match="BO_BROKER_URL and CELERY_BROKER_URL"):
        build_config({"BO_BROKER_URL": REDIS, "CELERY_BROKER_URL": "redis://other:6379/0"})


def test_result_expires_zero_keeps_results_forever() -> None:
    assert build_config({"BO_RESULT_EXPIRES": "0"})["result_expires"] is None


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"BO_TRIAL_SOFT_TIME_LIMIT": "six hours"}, ["BO_TRIAL_SOFT_TIME_LIMIT", "six hours"]),
        ({"BO_TRIAL_SOFT_TIME_LIMIT": "1.5"}, ["BO_TRIAL_SOFT_TIME_LIMIT", "whole number"]),
        ({"BO_TRIAL_SOFT_TIME_LIMIT": "0"}, ["BO_TRIAL_SOFT_TIME_LIMIT", ">= 1"]),
        ({"BO_VISIBILITY_TIMEOUT": "-5"}, ["BO_VISIBILITY_TIMEOUT", "-5"]),
        ({"BO_RESULT_EXPIRES": "1w"}, ["BO_RESULT_EXPIRES", "e.g. BO_RESULT_EXPIRES="]),
        ({"BO_RESULT_EXPIRES": "3600"}, ["BO_RESULT_EXPIRES=3600", "at least 604800"]),
        ({"CELERY_WORKER_CONCURRENCY": "many"}, ["CELERY_WORKER_CONCURRENCY", "integer >= 1"]),
        ({"CELERY_RESULT_BACKEND_ALWAYS_RETRY": "maybe"}, ["CELERY_RESULT_BACKEND_ALWAYS_RETRY"]),
        ({"BO_BROKER_URL": "localhost:6379"}, ["BO_BROKER_URL", "must be a URL"]),
        ({"BO_BROKER_URL": "redis://host:port/0"}, ["BO_BROKER_URL", "not a valid Redis URL"]),
        ({"BO_BROKER_URL": "redis://host:6379/zero"}, ["BO_BROKER_URL", "database number"]),
        ({"BO_BROKER_URL": "amqp://guest@localhost//"}, ["BO_RESULT_BACKEND must be set"]),
        (
            {"BO_BROKER_URL": "rediss://h:6380/0?ssl_cert_reqs=sometimes"},
            ["BO_BROKER_URL", "ssl_cert_reqs='sometimes'", "required, optional or none"],
        ),
    ],
)
def test_bad_values_name_the_variable_and_what_to_put(
    environ: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(WorkerConfigError) as error:
        build_config(environ)
    for name in names:
        assert name in str(error.value)


def test_visibility_timeout_must_exceed_the_trial_time_limit() -> None:
    with pytest.raises(WorkerConfigError) as error:
        build_config({"BO_TRIAL_SOFT_TIME_LIMIT": "3600", "BO_VISIBILITY_TIMEOUT": "3600"})
    message = str(error.value)
    assert "BO_VISIBILITY_TIMEOUT=3600" in message
    assert "BO_TRIAL_SOFT_TIME_LIMIT=3600" in message
    assert "run twice" in message
    ok = build_config({"BO_TRIAL_SOFT_TIME_LIMIT": "3600", "BO_VISIBILITY_TIMEOUT": "7200"})
    assert ok["task_time_limit"] < 7200


def test_make_app_refuses_a_bad_environment_at_once() -> None:
    with pytest.raises(WorkerConfigError, match="BO_TRIAL_SOFT_TIME_LIMIT"):
        make_app({"BO_TRIAL_SOFT_TIME_LIMIT": "abc"})
    app = make_app({"BO_BROKER_URL": REDIS})
    assert app.conf.broker_url == REDIS
    assert app.conf.task_default_queue == DEFAULT_QUEUE


def test_password_url_is_parsed_by_celery_and_kombu() -> None:
    url = "redis://:p%40ss%2Fword@redis.example:6380/5"
    app = celery_from({"BO_BROKER_URL": url})
    params = app.backend.connparams
    assert (params["host"], params["port"], params["db"]) == ("redis.example", 6380, 5)
    assert params["password"] == "p@ss/word"
    connection = app.connection_for_write()
    assert (connection.hostname, connection.port) == ("redis.example", 6380)
    assert connection.password == "p@ss/word"
    assert connection.virtual_host == "5"
    assert not connection.ssl


def test_rediss_url_verifies_certificates_by_default() -> None:
    # Without ssl_cert_reqs kombu would fall back to CERT_NONE and Celery's
    # backend would refuse the URL; we require certificates instead.
    app = celery_from({"BO_BROKER_URL": "rediss://:secret@redis.example:6380/2"})
    assert app.conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert app.conf.redis_backend_use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    params = app.backend.connparams
    assert params["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert params["connection_class"].__name__ == "SSLConnection"
    assert params["password"] == "secret"
    assert params["db"] == 2
    assert app.connection_for_write().ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_rediss_url_with_explicit_ssl_options() -> None:
    broker = "rediss://:secret@redis.example:6380/2?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem"
    backend = "rediss://:other@cache.example:6390/3?ssl_cert_reqs=none"
    app = celery_from({"BO_BROKER_URL": broker, "BO_RESULT_BACKEND": backend})
    assert app.conf.broker_use_ssl == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": "/etc/ca.pem",
    }
    assert app.connection_for_write().ssl["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    params = app.backend.connparams
    assert params["ssl_cert_reqs"] == ssl.CERT_NONE
    assert (params["host"], params["port"], params["db"]) == ("cache.example", 6390, 3)
    assert params["password"] == "other"


# ---------------------------------------------- a real password-protected Redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A throwaway redis-server on a free loopback port with requirepass, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_unavailable("redis-server not installed: apt-get install redis-server")
    port, password = _free_port(), "s3cret/with@chars"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password]
    command += ["--save", "", "--appendonly", "no"]  # nothing written to disk
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    service_unavailable(f"a private redis-server did not start on port {port}")
                time.sleep(0.02)
        yield port, password
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_password_url_connects_to_a_real_redis(redis_with_password: tuple[int, str]) -> None:
    from urllib.parse import quote

    port, password = redis_with_password
    url = f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/1"
    app = make_app({"BO_BROKER_URL": url})
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            with connection.SimpleQueue("bo-config-test") as queue:
                queue.put({"hello": "world"})
                assert queue.get(timeout=5).payload == {"hello": "world"}
        app.backend.set("bo-config-test", b"1")
        assert app.backend.get("bo-config-test") == b"1"
    finally:
        app.close()
    wrong = make_app({"BO_BROKER_URL": f"redis://:wrong@127.0.0.1:{port}/1"})
    try:
        with pytest.raises(Exception, match=r"(?i)auth|password|WRONGPASS"):
            wrong.backend.get("bo-config-test")
    finally:
        wrong.close()


def test_visibility_timeout_needs_a_margin_above_the_hard_limit() -> None:
    """Just above the hard limit is not enough: a killed trial's message could be
    redelivered before the worker acknowledges it."""
    soft = 3600
    least = hard_time_limit(soft) + visibility_margin(hard_time_limit(soft))
    assert visibility_margin(hard_time_limit(soft)) > 1
    with pytest.raises(WorkerConfigError) as error:
        build_config(
            {"BO_TRIAL_SOFT_TIME_LIMIT": str(soft), "BO_VISIBILITY_TIMEOUT": str(least - 1)}
        )
    assert f"set BO_VISIBILITY_TIMEOUT={least} or more" in str(error.value)
    ok = build_config(
        {
            "BO_BROKER_URL": REDIS,
            "BO_TRIAL_SOFT_TIME_LIMIT": str(soft),
            "BO_VISIBILITY_TIMEOUT": str(least),
        }
    )
    assert ok["broker_transport_options"]["visibility_timeout"] == least
