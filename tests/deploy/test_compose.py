"""deploy/ is consistent: the compose file is valid Compose, and runs only real commands.

No Docker engine is needed: the compose file is validated against the
Compose specification's JSON schema (vendored in deploy/schema/) and every
command our image runs is parsed by the CLI that will run it.
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.deploy_files import (
    COMPOSE_FILE,
    DEPLOY,
    ENV_EXAMPLE,
    SCHEMA_FILE,
    InterpolationError,
    check_bo_scheduler_command,
    check_celery_command,
    interpolate,
    load_compose,
    procfile,
    read_env_file,
    service_command,
    service_environment,
    systemd_exec_lines,
)

jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (a dev dependency)")

OUR_IMAGE_SERVICES = {"migrate", "scheduler", "worker", "flower"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """What `docker compose` would interpolate with: deploy/.env.example as deploy/.env."""
    return read_env_file(ENV_EXAMPLE)


def test_compose_file_is_valid_against_the_compose_spec_schema(compose: dict) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors
    )


def test_schema_check_catches_a_broken_compose_file(compose: dict) -> None:
    """The validation above is not vacuous: a misspelt key fails it."""
    schema = json.loads(SCHEMA_FILE.read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["comand"] = broken["services"]["worker"].pop("command")
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_every_required_variable_is_in_the_env_example(compose: dict, env: dict) -> None:
    """`docker compose` with deploy/.env copied from the example interpolates everything."""
    interpolate(COMPOSE_FILE.read_text(), env)  # raises on ${VAR:?...} left unset
    with pytest.raises(InterpolationError, match="REDIS_PASSWORD"):
        interpolate(COMPOSE_FILE.read_text(), {})


def test_the_stack_has_the_services_the_issue_asks_for(compose: dict) -> None:
    services = compose["services"]
    assert {"redis", "postgres", "scheduler", "worker", "flower"} <= set(services)
    redis = service_command(services["redis"])
    assert "--appendonly yes" in redis
    assert "--maxmemory-policy noeviction" in redis
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    assert any("postgresql" in v for v in services["postgres"]["volumes"])
    # The worker service must scale: no fixed container name, no host port.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]
    # Flower: basic auth, persistent state on a volume.
    flower_env = services["flower"]["environment"]
    assert "FLOWER_BASIC_AUTH" in flower_env
    assert str(flower_env["FLOWER_PERSISTENT"]).lower() == "true"
    assert flower_env["FLOWER_DB"].startswith("/data/")
    assert any(str(v).endswith(":/data") for v in services["flower"]["volumes"])
    assert "args" in flower_env["FLOWER_TASKS_COLUMNS"].split(",")


def test_commands_of_our_image_exist_in_our_cli_or_in_celery(
    compose: dict, env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = []
    for name, service in compose["services"].items():
        if name not in OUR_IMAGE_SERVICES:
            continue
        service_env = service_environment(service, env)
        for key, value in service_env.items():
            monkeypatch.setenv(key, value)  # e.g. BO_CONFIG, read by `run`
        argv = shlex.split(interpolate(service_command(service), env))
        if argv[0] == "bo-scheduler":
            checked.append(check_bo_scheduler_command(argv))
        else:
            checked.append(check_celery_command(argv, service_env))
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD-SHELL":
            health = shlex.split(interpolate(test[1], env))
            if health[0] == "celery":
                checked.append(check_celery_command(health, service_env))
        elif test and test[1] == "python":
            compile(test[3], "healthcheck", "exec")  # valid Python
    assert ["bo-scheduler", "run"] in checked
    assert ["bo-scheduler", "db", "upgrade"] in checked
    assert ["celery", "worker"] in checked
    assert ["celery", "flower"] in checked
    assert ["celery", "inspect"] in checked


def test_procfile_runs_the_same_commands_as_compose(compose: dict) -> None:
    entries = procfile()
    assert set(entries) == {"scheduler", "worker", "flower"}
    for name, command in entries.items():
        assert command == service_command(compose["services"][name]), name


def test_procfile_is_valid_for_honcho() -> None:
    honcho = Path(sys.executable).with_name("honcho")
    if not honcho.exists():
        pytest.skip("honcho is not installed: pip install honcho")
    result = subprocess.run(
        [str(honcho), "-f", str(DEPLOY / "Procfile"), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_systemd_units_run_commands_that_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BO_CONFIG", "/etc/bo-scheduler/experiment.yaml")
    units = systemd_exec_lines()
    assert set(units) == {"bo-scheduler.service", "bo-worker@.service", "bo-flower.service"}
    for unit, lines in units.items():
        assert lines, unit
        for line in lines:
            # systemd specifiers (%i, %H) stand for plain words here.
            argv = shlex.split(line.replace("%i", "1").replace("%H", "host"))
            argv[0] = Path(argv[0]).name
            if argv[0] == "bo-scheduler":
                check_bo_scheduler_command(argv)
            else:
                check_celery_command(argv)


def test_redis_accepts_the_compose_settings(tmp_path: Path) -> None:
    """The Redis flags of the compose file, given to the machine's redis-server."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    import redis

    command = interpolate(
        service_command(load_compose()["services"]["redis"]), {"REDIS_PASSWORD": "pw"}
    )
    args = shlex.split(command)[1:]
    assert args[args.index("--requirepass") + 1] == "pw"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [server, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, password="pw", socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None:
                    pytest.fail(f"redis-server refused the compose flags {args}")
                time.sleep(0.05)
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
