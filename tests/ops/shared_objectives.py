"""Objectives of the shared-daemon fleet tests (``BO_OBJECTIVE_MODULES=<this module>``).

``always_fails`` raises on every trial, so its experiment's failure-rate guard
aborts it while the other experiments of the same daemon go on.
"""

from __future__ import annotations

import time
from typing import Any

from workers.objectives import objective


@objective("shared_always_fails", metrics=["loss"])
def always_fails(parameters: dict[str, Any]) -> dict[str, float]:
    time.sleep(0.2)
    raise RuntimeError(f"this objective always fails (x1={parameters.get('x1')})")
