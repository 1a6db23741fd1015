"""``learning_curve``: a synthetic training run, for early stopping on a real fleet.

The loss of a configuration ``x = (x1, ..., xd)`` in ``[0, 1]^d`` decays over
training steps towards a final value the parameters decide:

    final(x)   = floor + Σ_i (x_i - optimum)²
    loss(step) = final(x) + (start - final(x)) · exp(-rate · step)

so the curve is monotone and a configuration that is bad early stays bad:
what an early-stopping rule bets on. Each step sleeps ``step_seconds`` (the
simulated cost of training), then calls ``report(step, loss=...)``, which is
where a stop request from the scheduler takes effect. ``noise_sd`` adds
Gaussian noise to every reported point (not to the returned final value).

Returns ``{"loss": loss(steps - 1)}`` without noise: the loss after the last
step, as a finished training run would, on the same curve as the reported
points. Best at ``x_i = optimum`` for every i, where ``final(x) = floor``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

from workers.errors import ObjectiveParameterError
from workers.objectives.builtin import any_dimension_point
from workers.objectives.registry import objective

NAME = "learning_curve"
METRIC = "loss"


def final_loss(x: list[float], floor: float = 0.1, optimum: float = 0.3) -> float:
    """The value a full training run converges to."""
    return floor + sum((v - optimum) ** 2 for v in x)


def loss_at(step: float, final: float, start: float, rate: float) -> float:
    """Exponential decay from ``start`` at step 0 to ``final``."""
    return final + (start - final) * math.exp(-rate * step)


def _option(value: Any, name: str, low: float, *, positive: bool = False) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        ok = float(value) > low if positive else float(value) >= low
    if not ok:
        relation = ">" if positive else ">="
        raise ObjectiveParameterError(
            f"objective {NAME!r}: option {name!r} must be a finite number {relation} {low:g}, "
            f"got {value!r}"
        )
    return float(value)


@objective(NAME, metrics=[METRIC])
def learning_curve(
    parameters: Mapping[str, Any],
    report: Callable[..., None] | None = None,
    steps: int = 20,
    step_seconds: float = 0.0,
    start: float = 5.0,
    rate: float = 0.25,
    floor: float = 0.1,
    optimum: float = 0.3,
    noise_sd: float = 0.0,
    seed: int | None = None,
) -> dict[str, float]:
    """Train for ``steps`` steps, reporting the loss after each; return the final loss."""
    x = any_dimension_point(parameters, NAME)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ObjectiveParameterError(
            f"objective {NAME!r}: option 'steps' must be a whole number >= 1, got {steps!r}"
        )
    pause = _option(step_seconds, "step_seconds", 0.0)
    sd = _option(noise_sd, "noise_sd", 0.0)
    decay = _option(rate, "rate", 0.0, positive=True)
    start_value = _option(start, "start", -math.inf, positive=True)
    low = _option(floor, "floor", -math.inf, positive=True)
    final = final_loss(x, low, _option(optimum, "optimum", -math.inf, positive=True))
    rng = random.Random(None if seed is None else f"{seed}:{sorted(parameters.items())}")
    for step in range(steps):
        if pause:
            time.sleep(pause)
        if report is not None:
            value = loss_at(step, final, start_value, decay)
            report(step, **{METRIC: value + (rng.gauss(0.0, sd) if sd else 0.0)})
    return {METRIC: loss_at(steps - 1, final, start_value, decay)}
