"""Objectives of the runner contract suite, one set for every runner under test.

Registered with ``@objective`` so Celery workers run them by name: the worker
subprocesses import this module through ``BO_OBJECTIVE_MODULES``
(``tests.contracts.contract_objectives``; the repository root is on their
``PYTHONPATH``), an embedded worker finds them because the test process has
imported it. The in-process ``FunctionRunner`` calls the same functions
directly (:data:`FUNCTIONS`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from workers.objectives import objective

MODULE = "tests.contracts.contract_objectives"
METRIC = "sphere"
#: The message `exploding` raises with; a failure reason must name it.
EXPLOSION = "contract objective exploded"


def sphere(parameters: Mapping[str, Any]) -> float:
    return float(parameters["x1"]) ** 2 + float(parameters["x2"]) ** 2


@objective("contract_sphere", metrics=[METRIC])
def good(parameters: Mapping[str, Any]) -> dict[str, float]:
    """x1² + x2²."""
    return {METRIC: sphere(parameters)}


@objective("contract_exploding")
def exploding(parameters: Mapping[str, Any]) -> dict[str, float]:
    """Always raises, like a simulator that crashed."""
    raise ValueError(f"{EXPLOSION} at x1={parameters['x1']}")


@objective("contract_reporting", metrics=[METRIC])
def reporting(
    parameters: Mapping[str, Any], report: Callable[..., None], gate: str
) -> dict[str, float]:
    """Reports a point every 50 ms until the file ``gate`` exists, then returns the sphere.

    Stoppable cooperatively: ``report`` raises once the scheduler asked to stop.
    """
    step = 0
    while not Path(gate).exists():
        report(step, **{METRIC: 1.0 / (step + 1)})
        step += 1
        time.sleep(0.05)
    return {METRIC: sphere(parameters)}


#: Objective name -> the function, for runners that call Python directly.
FUNCTIONS: dict[str, Callable[..., dict[str, float]]] = {
    "contract_sphere": good,
    "contract_exploding": exploding,
    "contract_reporting": reporting,
}
