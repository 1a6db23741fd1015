"""Real ``celery -A workers.app worker`` subprocesses for tests.

``celery_workers(broker_url)`` starts N prefork workers on the trial queue,
waits until each answers a broadcast ping, yields a :class:`WorkerFleet` (a
client app on the same broker and backend, the processes, their logs), then
stops them with SIGTERM (warm shutdown) and, after a timeout, SIGKILL of
their whole process group so no pool child outlives the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.app import make_app
from workers.protocol import DEFAULT_QUEUE
from workers.settings import (
    ENV_BROKER_URL,
    ENV_CELERY_BROKER_URL,
    ENV_CELERY_RESULT_BACKEND,
    ENV_RESULT_BACKEND,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerStartError(RuntimeError):
    """A worker exited or did not answer a ping in time; the message holds its log."""


@dataclass
class WorkerFleet:
    """Running workers and a client app that talks to them."""

    app: Any
    broker_url: str
    result_backend: str
    queue: str
    hostnames: list[str]
    processes: list[subprocess.Popen[bytes]]
    log_paths: list[Path]
    env: dict[str, str] = field(default_factory=dict)

    def logs(self) -> str:
        """All workers' logs so far, each under a header."""
        parts = []
        for hostname, path in zip(self.hostnames, self.log_paths, strict=True):
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"===== {hostname} ({path}) =====\n{text}")
        return "\n".join(parts)

    def ping(self, timeout: float = 1.0) -> set[str]:
        """Hostnames that answered a broadcast ping within ``timeout`` seconds."""
        replies = self.app.control.ping(destination=self.hostnames, timeout=timeout) or []
        return {name for reply in replies for name in reply}


def worker_env(
    broker_url: str,
    result_backend: str,
    extra_env: Mapping[str, str] | None = None,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, str]:
    """The environment of a worker subprocess: ours, pointed at the test broker."""
    env = dict(os.environ)
    # Celery reads these itself and would override ours.
    env.pop(ENV_CELERY_BROKER_URL, None)
    env.pop(ENV_CELERY_RESULT_BACKEND, None)
    paths = [str(REPO_ROOT), *(str(p) for p in pythonpath)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        {
            ENV_BROKER_URL: broker_url,
            ENV_RESULT_BACKEND: result_backend,
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    return env


def worker_command(
    hostname: str, queue: str = DEFAULT_QUEUE, concurrency: int = 2, loglevel: str = "INFO"
) -> list[str]:
    """``celery -A workers.app worker`` with a prefork pool on ``queue``."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "-n",
        hostname,
        "-Q",
        queue,
        "--loglevel",
        loglevel,
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
    ]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its pool children (they share its process group)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def stop_workers(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL of each process group after ``timeout``."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        _kill_group(process)  # also reaps orphaned pool children
        process.wait()


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def celery_workers(
    broker_url: str,
    result_backend: str | None = None,
    *,
    count: int = 2,
    concurrency: int = 2,
    queue: str = DEFAULT_QUEUE,
    extra_env: Mapping[str, str] | None = None,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
    log_dir: str | os.PathLike[str] | None = None,
    startup_timeout: float = 60.0,
    shutdown_timeout: float = 15.0,
    loglevel: str = "INFO",
) -> Iterator[WorkerFleet]:
    """Run ``count`` worker subprocesses for the duration of the block.

    ``extra_env`` is added to each worker's environment (for example
    ``BO_OBJECTIVE_MODULES``, ``BO_TRIAL_SOFT_TIME_LIMIT``); ``pythonpath``
    entries are prepended to its ``PYTHONPATH`` after the repository root.
    Worker logs go to ``log_dir``; without one, to a temporary folder that is
    removed when the block ends (failures quote the log tails first).
    """
    backend = result_backend or broker_url
    env = worker_env(broker_url, backend, extra_env, pythonpath)
    token = uuid.uuid4().hex[:8]
    own_logs = log_dir is None  # a log folder made here is removed when the block ends
    logs = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="bo-workers-"))
    logs.mkdir(parents=True, exist_ok=True)
    hostnames = [f"bo-w{i}-{token}@{socket.gethostname()}" for i in range(count)]
    log_paths = [logs / f"worker-{i}-{token}.log" for i in range(count)]
    # The client needs only the broker and backend; worker settings stay the workers'.
    client = make_app({ENV_BROKER_URL: broker_url, ENV_RESULT_BACKEND: backend})
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for hostname, log_path in zip(hostnames, log_paths, strict=True):
            with log_path.open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        worker_command(hostname, queue, concurrency, loglevel),
                        cwd=REPO_ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # own process group: killpg reaches the pool
                    )
                )
        fleet = WorkerFleet(
            client, broker_url, backend, queue, hostnames, processes, log_paths, env
        )
        _wait_until_ready(fleet, startup_timeout)
        yield fleet
    finally:
        stop_workers(processes, shutdown_timeout)
        client.close()
        if own_logs:
            shutil.rmtree(logs, ignore_errors=True)


def _wait_until_ready(fleet: WorkerFleet, timeout: float) -> None:
    """Poll with broadcast pings until every worker answers; fail fast if one exits."""
    deadline = time.monotonic() + timeout
    answered: set[str] = set()
    while True:
        for hostname, process, path in zip(
            fleet.hostnames, fleet.processes, fleet.log_paths, strict=True
        ):
            if process.poll() is not None:
                raise WorkerStartError(
                    f"worker {hostname} exited with code {process.returncode} before answering "
                    f"a ping; last log lines:\n{_tail(path)}"
                )
        answered |= fleet.ping(timeout=0.5)
        if answered >= set(fleet.hostnames):
            return
        if time.monotonic() > deadline:
            missing = sorted(set(fleet.hostnames) - answered)
            raise WorkerStartError(
                f"workers {', '.join(missing)} did not answer a ping within {timeout:g} s; "
                f"logs:\n{fleet.logs()}"
            )
