"""`hartmann6_slow`: Hartmann6 that takes 2-5 s, reporting when it ran.

A user objective module for `bench.fleet_utilization`, loaded by the workers
through ``BO_OBJECTIVE_MODULES=bench.fleet_objective``. Each evaluation sleeps
a duration drawn uniformly from ``[min_seconds, max_seconds]`` (seeded by the
arm, so a rerun of the same arm takes as long) and returns, beside the
``hartmann6`` value, the worker's own wall-clock ``started_at`` and
``finished_at`` (Unix seconds) and its process id ``worker_pid``: busy
worker-seconds are measured where the work happens, not when the
scheduler's poll notices it.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from typing import Any

from workers.objectives.builtin import fixed_dimension_point, hartmann6
from workers.objectives.registry import objective

#: The metrics `hartmann6_slow` returns.
METRICS = ("hartmann6", "started_at", "finished_at", "worker_pid")


@objective("hartmann6_slow", metrics=list(METRICS))
def hartmann6_slow(
    parameters: Mapping[str, Any], min_seconds: float = 2.0, max_seconds: float = 5.0
) -> dict[str, float]:
    """Hartmann6 at x1..x6 after sleeping U(min_seconds, max_seconds) seconds."""
    started = time.time()
    x = fixed_dimension_point(parameters, 6, "hartmann6_slow")
    rng = random.Random(repr(sorted(parameters.items())))
    time.sleep(rng.uniform(float(min_seconds), float(max_seconds)))
    return {
        "hartmann6": hartmann6(x),
        "started_at": started,
        "finished_at": time.time(),
        "worker_pid": float(os.getpid()),
    }
