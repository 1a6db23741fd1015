"""A user objective module, loaded by test workers through BO_OBJECTIVE_MODULES.

It lives outside any package on purpose: the test workers get this
directory on their PYTHONPATH, the way an operator ships a module of
objectives to a fleet. Side effects go to files whose paths the test passes
as options, so the test can tell what ran and where.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from workers.objectives import objective


@objective("sphere", metrics=["sphere"])
def sphere(parameters: Mapping[str, Any]) -> dict[str, float]:
    """Sum of squares: the simplest user objective."""
    return {"sphere": sum(float(v) ** 2 for v in parameters.values())}


@objective("raises")
def raises(parameters: Mapping[str, Any]) -> dict[str, float]:
    """Always fails, like an evaluation whose simulator crashed."""
    raise ValueError(f"simulator crashed at x={parameters.get('x')}")


@objective("returns_nan")
def returns_nan(parameters: Mapping[str, Any]) -> dict[str, float]:
    """Returns NaN for one metric, which must not reach the model."""
    return {"accuracy": 0.5, "loss": float("nan")}


@objective("hangs")
def hangs(parameters: Mapping[str, Any], started: str = "") -> dict[str, float]:
    """Never finishes on its own (stands for a stuck evaluation)."""
    if started:
        Path(started).write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)


@objective("touch")
def touch(parameters: Mapping[str, Any], path: str) -> dict[str, float]:
    """Creates ``path``: evidence that the task body ran."""
    Path(path).write_text("ran")
    return {"touched": 1.0}


@objective("killable")
def killable(parameters: Mapping[str, Any], attempts_dir: str) -> dict[str, float]:
    """First attempt records its pid and waits to be killed; a later one succeeds.

    Each attempt writes ``attempt-<n>.pid`` holding the pool child's pid.
    """
    directory = Path(attempts_dir)
    attempt = len(list(directory.glob("attempt-*.pid"))) + 1
    (directory / f"attempt-{attempt}.pid").write_text(str(os.getpid()))
    if attempt == 1:
        while True:
            time.sleep(0.05)
    return {"attempts": float(attempt)}


@objective("curve")
def curve(
    parameters: Mapping[str, Any],
    report: Callable[..., None],
    steps: int = 5,
    wait_for: str = "",
) -> dict[str, float]:
    """Reports a learning curve; after step 2 waits for the file ``wait_for``, if given."""
    loss = 1.0
    for step in range(steps):
        loss = 1.0 / (step + 1)
        report(step, loss=loss)
        if step == 2 and wait_for:
            while not Path(wait_for).exists():
                time.sleep(0.02)
    return {"loss": loss}


@objective("stubborn")
def stubborn(parameters: Mapping[str, Any], runs_dir: str) -> dict[str, float]:
    """Ignores its soft time limit, so only the hard limit's kill ends it.

    Each execution leaves ``run-<pid>-<n>`` in ``runs_dir``: evidence of how
    many times the trial ran.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    directory = Path(runs_dir)
    (directory / f"run-{os.getpid()}-{len(list(directory.iterdir()))}").write_text("ran")
    while True:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            continue  # what an objective that swallows every exception does
