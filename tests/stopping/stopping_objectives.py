"""Objectives the early-stopping tests' workers load through BO_OBJECTIVE_MODULES.

Outside any package on purpose, like an operator's module of objectives:
the test workers get this directory on their PYTHONPATH.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from workers.objectives import objective


@objective("gated_curve", metrics=["loss"])
def gated_curve(
    parameters: Mapping[str, Any], report: Callable[..., None], steps: int = 10, gate: str = ""
) -> dict[str, float]:
    """Reports `steps` points at once, then waits for the file `gate` before returning."""
    loss = 1.0
    for step in range(steps):
        loss = 1.0 / (step + 1)
        report(step, loss=loss)
    while gate and not Path(gate).exists():
        time.sleep(0.01)
    return {"loss": loss}


@objective("plateau", metrics=["loss"])
def plateau(parameters: Mapping[str, Any]) -> dict[str, float]:
    """The same value whatever the parameters: an optimization that cannot improve."""
    return {"loss": 1.0}


@objective("silent_sleeper")
def silent_sleeper(parameters: Mapping[str, Any], started: str = "") -> dict[str, float]:
    """Never reports and never returns: stoppable only by terminating its process.

    Writes its pool process id to the file `started` once running.
    """
    if started:
        Path(started).write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)
