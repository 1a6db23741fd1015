"""The deploy stack, run as local processes from the commands of deploy/.

Workers (2) and Flower run under honcho from deploy/Procfile, whose lines
are the compose file's commands (test_compose checks they are identical);
the scheduler daemon runs the compose file's scheduler command,
`bo-scheduler run`, as a subprocess (honcho stops everything when one
process exits, and the daemon exits when its budget is reached). Redis is
the machine's, in a private database; the experiment database is SQLite.

The test runs an experiment to completion through the CLI and then finds
our trials and workers in Flower's HTTP API (`/api/workers`, `/api/tasks`,
`/metrics`) and in the daemon's Prometheus `/metrics`.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_files import (
    DEPLOY,
    REPO_ROOT,
    interpolate,
    load_compose,
    read_env_file,
    service_command,
)
from tests.support.services import PrivateRedis, private_redis

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
EXPERIMENT = "stack_branin"
TRIALS = 12
FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-secret-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, auth: bool = True, timeout: float = 5.0) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{FLOWER_USER}:{FLOWER_PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of metric `name` in Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), float(sample.value)))
    return found


def _tail(path: Path, lines: int = 80) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def _process_group(argv: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Run `argv` in its own process group; SIGTERM it (then SIGKILL) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _stack_env(redis: PrivateRedis, tmp: Path, flower_port: int, metrics_port: int) -> dict:
    """deploy/.env.example with this machine's services and ports, as the environment."""
    env = dict(os.environ)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    env.update(read_env_file(DEPLOY / ".env.example"))
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "BO_BROKER_URL": redis.url,
            "BO_RESULT_BACKEND": redis.url,
            "BO_DATABASE_URL": f"sqlite:///{tmp / 'stack.db'}",
            "BO_CONFIG": str(tmp / "experiment.yaml"),
            "BO_METRICS_PORT": str(metrics_port),
            "FLOWER_PORT": str(flower_port),
            "FLOWER_ADDRESS": "127.0.0.1",
            "FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}",
            "FLOWER_DB": str(tmp / "flower"),
            "FLOWER_STATE_SAVE_INTERVAL": "1000",
            "CELERY_WORKER_CONCURRENCY": "2",
        }
    )
    return env


def _write_config(path: Path) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "name": EXPERIMENT,
                "parameters": [
                    {"name": "x1", "type": "range", "bounds": [-5, 10]},
                    {"name": "x2", "type": "range", "bounds": [0, 15]},
                ],
                "objectives": {"branin": "minimize"},
                "objective_function": {"name": "branin", "options": {"runtime_seconds": 0.4}},
                "generation": {"strategy": "sobol", "seed": 1},
                "scheduler": {
                    "total_trials": TRIALS,
                    "max_pending_trials": 4,
                    "init_seconds_between_polls": 0.1,
                    "min_seconds_before_poll": 0.0,
                    "max_seconds_between_polls": 0.5,
                },
            }
        )
    )


def _wait_for_workers(flower: str, deadline: float, logs: Path) -> dict[str, Any]:
    """Flower's /api/workers once both honcho workers answer."""
    last: Any = None
    while time.monotonic() < deadline:
        with suppress(OSError):
            status, body = _get(f"{flower}/api/workers?refresh=1", timeout=10)
            if status == 200:
                last = json.loads(body)
                ours = [w for w in last if w.startswith("worker-")]
                if len(ours) >= 2:
                    return dict(last)
        time.sleep(1)
    pytest.fail(f"Flower did not list 2 workers (last answer {last}); honcho log:\n{_tail(logs)}")


def test_stack_runs_an_experiment_and_flower_and_metrics_show_it(tmp_path: Path) -> None:
    honcho = BIN / "honcho"
    if not honcho.exists():
        pytest.skip("honcho is not installed: pip install honcho")
    compose = load_compose()["services"]
    with private_redis() as redis:
        flower_port, metrics_port = _free_port(), _free_port()
        env = _stack_env(redis, tmp_path, flower_port, metrics_port)
        _write_config(tmp_path / "experiment.yaml")
        flower = f"http://127.0.0.1:{flower_port}"
        honcho_log = tmp_path / "honcho.log"
        honcho_argv = [
            str(honcho), "-f", str(DEPLOY / "Procfile"), "--no-colour",
            "start", "-c", "worker=2", "worker", "flower",
        ]  # fmt: skip
        with _process_group(honcho_argv, honcho_log, env):
            workers = _wait_for_workers(flower, time.monotonic() + 90, honcho_log)
            our_workers = sorted(w for w in workers if w.startswith("worker-"))
            assert len(our_workers) == 2

            # Authentication is on: the API refuses anonymous requests.
            assert _get(f"{flower}/api/workers", auth=False)[0] == 401

            # The scheduler: the compose service's command, interpolated as compose would.
            argv = shlex.split(interpolate(service_command(compose["scheduler"]), env))
            assert argv[:2] == ["bo-scheduler", "run"]
            scheduler_log = tmp_path / "scheduler.log"
            seen_metrics = ""
            with _process_group(argv, scheduler_log, env) as daemon:
                deadline = time.monotonic() + 150
                while daemon.poll() is None and time.monotonic() < deadline:
                    with suppress(OSError):
                        status, body = _get(f"http://127.0.0.1:{metrics_port}/metrics", False)
                        if status == 200:
                            seen_metrics = body
                    time.sleep(0.3)
                if daemon.poll() is None:
                    pytest.fail(f"daemon still running; log:\n{_tail(scheduler_log)}")
                assert daemon.returncode == 0, _tail(scheduler_log)
            log = scheduler_log.read_text()
            assert "redis://" in log and redis.url in log  # the broker it used, logged
            assert f"experiment {EXPERIMENT}: finished" in log

            # The daemon's Prometheus metrics, last scrape before it exited.
            assert seen_metrics, f"never scraped /metrics; log:\n{_tail(scheduler_log)}"
            trials = {
                labels["status"]: value
                for labels, value in _samples(seen_metrics, "bo_trials")
                if labels["experiment"] == EXPERIMENT
            }
            assert trials["COMPLETED"] >= 1, trials
            assert sum(trials.values()) <= TRIALS
            assert _samples(seen_metrics, "bo_poll_latency_seconds_count")[0][1] >= 1
            assert _samples(seen_metrics, "bo_generation_latency_seconds_count")[0][1] >= 1
            assert _samples(seen_metrics, "bo_trial_budget")[0][1] == TRIALS
            assert _samples(seen_metrics, "bo_best_objective_value")

            # The stored experiment, through the CLI.
            from click.testing import CliRunner

            from scheduler.ops.cli.main import main

            result = CliRunner().invoke(
                main, ["status", EXPERIMENT, "--json", "--db-url", env["BO_DATABASE_URL"]]
            )
            assert result.exit_code == 0, result.output
            status_data = json.loads(result.output)
            assert status_data["trials_by_status"] == {"COMPLETED": TRIALS}

            # Flower's task list: our trials, readable, on our workers.
            status, body = _get(f"{flower}/api/tasks?taskname=bo_scheduler.evaluate&limit=1000")
            assert status == 200, body
            tasks = json.loads(body)
            ours = {
                task_id: task
                for task_id, task in tasks.items()
                if f"of {EXPERIMENT}:" in str(task.get("args"))
            }
            assert len(ours) == TRIALS, {k: v.get("args") for k, v in tasks.items()}
            indices = set()
            for task in ours.values():
                assert task["name"] == "bo_scheduler.evaluate"
                assert task["state"] == "SUCCESS", task
                assert task["worker"] in our_workers, task["worker"]
                args = str(task["args"])
                assert "x1" in args and "x2" in args and "branin" in args
                indices.add(int(args.split("trial ", 1)[1].split(" ", 1)[0]))
            assert indices == set(range(TRIALS))
            # Both workers took trials (4 out at once, 2 slots each).
            assert {t["worker"] for t in ours.values()} == set(our_workers)

            # Flower's Prometheus metrics name our task and workers.
            status, flower_metrics = _get(f"{flower}/metrics")
            assert status == 200
            events = _samples(flower_metrics, "flower_events_total")
            succeeded = {
                labels["worker"]
                for labels, value in events
                if labels.get("task") == "bo_scheduler.evaluate"
                and labels.get("type") == "task-succeeded"
                and value > 0
            }
            assert succeeded == set(our_workers)
