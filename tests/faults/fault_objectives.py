"""Objectives of the fault-scenario workers (``BO_OBJECTIVE_MODULES=<this module>``).

``counted`` records every execution of a trial's task body worker-side: each
start appends one line (``start <pid> <host>``) to ``<count_dir>/trial-<index>``
and each finish one line ``done <pid>``, so a test counts how many times each
trial ran and sees which runs finished, whatever happened to Redis, the
scheduler or the worker in between. ``misbehaving`` does what its mode (picked
by trial index) says: succeed, raise, return NaN/inf/a string/another metric,
or hang past the soft time limit.

Importing this module also applies ``BO_FAULTS_TRANSPORT_OPTIONS`` (JSON) to
the worker app's ``broker_transport_options``: scenarios shorten kombu's
sweep of unacknowledged messages (``unacked_restore_interval``/``throttle``)
and its BRPOP health check so redelivery happens within seconds, not minutes.
It runs at ``celeryd_init``, before the worker's consumer exists.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import current_task

from workers.objectives import objective

#: Environment variable with extra kombu transport options (JSON object).
TRANSPORT_OPTIONS_ENV = "BO_FAULTS_TRANSPORT_OPTIONS"
#: Modes of ``misbehaving``, chosen by ``trial_index % len(modes)``.
MODES = ("ok", "raise", "nan", "inf", "string", "missing_metric", "hang")


def _apply_transport_options() -> None:
    raw = os.environ.get(TRANSPORT_OPTIONS_ENV)
    if not raw:
        return
    from workers.app import app

    options = dict(app.conf.broker_transport_options or {})
    options.update(json.loads(raw))
    app.conf.broker_transport_options = options


_apply_transport_options()


def current_trial_index() -> int:
    """The trial index of the task this objective runs in (from the task's own request)."""
    request = current_task.request
    return int(request.args[0]["trial_index"])


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def _append(path: Path, line: str) -> None:
    """One O_APPEND write: lines of concurrent processes never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@objective("counted", metrics=["branin"])
def counted(
    parameters: Mapping[str, Any], count_dir: str, runtime_seconds: float = 0.0
) -> dict[str, float]:
    """Branin after ``runtime_seconds``, recording each start and finish of the trial."""
    path = Path(count_dir) / f"trial-{current_trial_index()}"
    _append(path, f"start {os.getpid()} {socket.gethostname()}")
    deadline = time.monotonic() + float(runtime_seconds)
    while time.monotonic() < deadline:
        time.sleep(0.02)
    value = branin(float(parameters["x1"]), float(parameters["x2"]))
    _append(path, f"done {os.getpid()}")
    return {"branin": value}


@objective("misbehaving")
def misbehaving(parameters: Mapping[str, Any], count_dir: str) -> Any:
    """Behaves per ``MODES[trial_index % 7]``; counts its executions like ``counted``."""
    index = current_trial_index()
    _append(Path(count_dir) / f"trial-{index}", f"start {os.getpid()} {socket.gethostname()}")
    mode = MODES[index % len(MODES)]
    value = branin(float(parameters["x1"]), float(parameters["x2"]))
    if mode == "raise":
        raise RuntimeError(f"simulated crash in trial {index}")
    if mode == "nan":
        return {"branin": float("nan")}
    if mode == "inf":
        return {"branin": float("inf")}
    if mode == "string":
        return {"branin": "not a number"}
    if mode == "missing_metric":
        return {"something_else": value}
    if mode == "hang":
        while True:
            time.sleep(0.05)
    return {"branin": value}


def _lines(count_dir: Path, kind: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in Path(count_dir).glob("trial-*"):
        lines = path.read_text().splitlines()
        counts[int(path.name.split("-", 1)[1])] = sum(1 for line in lines if line.startswith(kind))
    return counts


def executions(count_dir: Path) -> dict[int, int]:
    """How many times each trial's task body started, by trial index."""
    return _lines(count_dir, "start")


def finished(count_dir: Path) -> dict[int, int]:
    """How many runs of each trial's task body finished, by trial index."""
    return _lines(count_dir, "done")


def start_pids(count_dir: Path, trial_index: int) -> list[int]:
    """Pids of the pool processes that started ``trial_index``, oldest first."""
    path = Path(count_dir) / f"trial-{trial_index}"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [int(line.split()[1]) for line in lines if line.startswith("start")]
