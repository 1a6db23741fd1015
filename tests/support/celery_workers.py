"""Real ``celery -A workers.app worker`` subprocesses for tests: the one fleet factory.

:func:`celery_workers` starts N prefork workers on a queue (with the objective
modules, environment and ``PYTHONPATH`` a test asks for), waits until each
answers a broadcast ping, yields a :class:`WorkerFleet` (a client app on the
same broker and backend, the workers, their logs), then stops them with
SIGTERM (warm shutdown) and, after a timeout, SIGKILL of their whole process
group so no pool child outlives the test.

:func:`fleet_fixture` turns that into a pytest fixture on the module's private
Redis database (``redis_db``), which is how every conftest gets its fleet.
:func:`spawn_worker` and :func:`wait_until_ready` are the two halves of a
start, for tests that start a single worker by hand (the fault scenarios).
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import PrivateRedis
from workers.app import make_app
from workers.protocol import DEFAULT_QUEUE
from workers.settings import (
    ENV_BROKER_URL,
    ENV_CELERY_BROKER_URL,
    ENV_CELERY_RESULT_BACKEND,
    ENV_OBJECTIVE_MODULES,
    ENV_RESULT_BACKEND,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerStartError(RuntimeError):
    """A worker exited or did not answer a ping in time; the message holds its log."""


@dataclass
class Worker:
    """One ``celery worker`` process (and its pool children, in its own session)."""

    hostname: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """The worker's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class WorkerFleet:
    """Running workers and a client app that talks to them."""

    app: Any
    broker_url: str
    result_backend: str
    queue: str
    workers: list[Worker]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def hostnames(self) -> list[str]:
        return [w.hostname for w in self.workers]

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [w.process for w in self.workers]

    @property
    def log_paths(self) -> list[Path]:
        return [w.log_path for w in self.workers]

    def logs(self) -> str:
        """All workers' logs so far, each under a header."""
        return "\n".join(
            f"===== {w.hostname} ({w.log_path}) =====\n{w.log()}" for w in self.workers
        )

    def ping(self, timeout: float = 1.0) -> set[str]:
        """Hostnames that answered a broadcast ping within ``timeout`` seconds."""
        return ping(self.app, self.hostnames, timeout)


def ping(app: Any, hostnames: Sequence[str], timeout: float = 1.0) -> set[str]:
    """Which of ``hostnames`` answered a broadcast ping within ``timeout`` seconds."""
    replies = app.control.ping(destination=list(hostnames), timeout=timeout) or []
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


def objective_env(
    objective_modules: Sequence[str] = (), extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``extra_env`` plus ``BO_OBJECTIVE_MODULES`` listing ``objective_modules``.

    An ``ENV_OBJECTIVE_MODULES`` in ``extra_env`` wins (a test that sets it
    on purpose, e.g. to a module that does not import).
    """
    env = {ENV_OBJECTIVE_MODULES: ",".join(objective_modules)} if objective_modules else {}
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


def spawn_worker(
    hostname: str,
    log_path: Path,
    env: Mapping[str, str],
    *,
    queue: str = DEFAULT_QUEUE,
    concurrency: int = 2,
    loglevel: str = "INFO",
    prefix: Sequence[str] = (),
) -> Worker:
    """Start one worker (``prefix``: e.g. ``ip netns exec NS``), its output appended to
    ``log_path``, in a session of its own so that :func:`stop_workers` reaches its pool."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*prefix, *worker_command(hostname, queue, concurrency, loglevel)],
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches the pool
        )
    return Worker(hostname, process, log_path)


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


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def wait_until_ready(app: Any, workers: Sequence[Worker], timeout: float = 60.0) -> None:
    """Poll with broadcast pings until every worker answers; fail fast if one exits."""
    deadline = time.monotonic() + timeout
    names = {w.hostname for w in workers}
    answered: set[str] = set()
    while True:
        for worker in workers:
            if worker.process.poll() is not None:
                raise WorkerStartError(
                    f"worker {worker.hostname} exited with code {worker.process.returncode} "
                    f"before answering a ping; last log lines:\n{_tail(worker.log())}"
                )
        answered |= ping(app, sorted(names), timeout=0.5)
        if answered >= names:
            return
        if time.monotonic() > deadline:
            logs = "\n".join(f"===== {w.hostname} =====\n{_tail(w.log())}" for w in workers)
            raise WorkerStartError(
                f"workers {', '.join(sorted(names - answered))} did not answer a ping within "
                f"{timeout:g} s; logs:\n{logs}"
            )


@contextmanager
def celery_workers(
    broker_url: str,
    result_backend: str | None = None,
    *,
    count: int = 2,
    concurrency: int = 2,
    queue: str = DEFAULT_QUEUE,
    objective_modules: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
    log_dir: str | os.PathLike[str] | None = None,
    startup_timeout: float = 60.0,
    shutdown_timeout: float = 15.0,
    loglevel: str = "INFO",
    name: str = "bo-w",
) -> Iterator[WorkerFleet]:
    """Run ``count`` worker subprocesses for the duration of the block.

    ``objective_modules`` are the user objective modules the workers load
    (``BO_OBJECTIVE_MODULES``); ``extra_env`` is added to each worker's
    environment (for example ``BO_TRIAL_SOFT_TIME_LIMIT``); ``pythonpath``
    entries are prepended to its ``PYTHONPATH`` after the repository root.
    Workers are named ``<name><i>-<token>@<host>``. Their logs go to
    ``log_dir``; without one, to a temporary folder that is removed when the
    block ends (failures quote the log tails first).
    """
    backend = result_backend or broker_url
    env = worker_env(broker_url, backend, objective_env(objective_modules, extra_env), pythonpath)
    token = uuid.uuid4().hex[:8]
    own_logs = log_dir is None  # a log folder made here is removed when the block ends
    logs = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="bo-workers-"))
    # The client needs only the broker and backend; worker settings stay the workers'.
    client = make_app({ENV_BROKER_URL: broker_url, ENV_RESULT_BACKEND: backend})
    workers: list[Worker] = []
    try:
        for i in range(count):
            workers.append(
                spawn_worker(
                    f"{name}{i}-{token}@{socket.gethostname()}",
                    logs / f"worker-{name}{i}-{token}.log",
                    env,
                    queue=queue,
                    concurrency=concurrency,
                    loglevel=loglevel,
                )
            )
        wait_until_ready(client, workers, startup_timeout)
        yield WorkerFleet(client, broker_url, backend, queue, workers, env)
    finally:
        stop_workers([w.process for w in workers], shutdown_timeout)
        client.close()
        if own_logs:
            shutil.rmtree(logs, ignore_errors=True)


def fleet_fixture(
    objective_modules: Sequence[str] = (),
    *,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
    count: int = 2,
    concurrency: int = 2,
    queue: str = DEFAULT_QUEUE,
    extra_env: Mapping[str, str] | None = None,
    log_folder: str = "worker-logs",
    name: str = "fleet",
    doc: str | None = None,
) -> Callable[..., Iterator[WorkerFleet]]:
    """A module-scoped pytest fixture ``name``: a :func:`celery_workers` fleet on the
    module's private Redis database (``redis_db``), logs kept under ``log_folder``.

    In a conftest or test module: ``fleet = fleet_fixture(["my_objectives"], pythonpath=[HERE])``.
    """

    def running_fleet(
        redis_db: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[WorkerFleet]:
        with celery_workers(
            redis_db.url,
            count=count,
            concurrency=concurrency,
            queue=queue,
            objective_modules=objective_modules,
            extra_env=extra_env,
            pythonpath=pythonpath,
            log_dir=tmp_path_factory.mktemp(log_folder),
        ) as running:
            yield running

    running_fleet.__doc__ = doc or (
        f"{count} `celery worker` process(es), concurrency {concurrency}, on queue {queue!r}"
        + (f", loading {', '.join(objective_modules)}" if objective_modules else "")
        + "."
    )
    return pytest.fixture(scope="module", name=name)(running_fleet)
